package dev.kvraft.storage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;

/**
 * Fuzzes the snapshot file reader: any bytes, written to a file, read with {@link SnapshotFiles#verify} and
 * {@link SnapshotFiles#read} (what a node does with a snapshot it installs or restarts from). Each must return or
 * throw {@link StorageException} with a message; anything else (another exception, a JVM crash in SQLite's native
 * code) is a finding. What {@code read} returns must agree with what {@code verify} said: the same meta, and as
 * many rows as the meta's key count, each with a key and possible revisions (1 <= create <= mod <= the snapshot's
 * revision, version >= 1): a node must not install a state no sequence of writes could have made.
 *
 * <p>Seeds (small real snapshot files and damaged ones):
 * {@code src/test/resources/dev/kvraft/storage/SnapshotFilesFuzzTestInputs/readsOrFailsCleanly/}. Fuzzing mode:
 * TESTING.md, "Fuzzing".
 */
class SnapshotFilesFuzzTest {

  @FuzzTest(maxDuration = "2m")
  void readsOrFailsCleanly(byte[] bytes) throws IOException {
    var dir = Files.createTempDirectory("kvraft-snapshot-fuzz");
    var file = dir.resolve(SnapshotFiles.fileName(1, 1));
    try {
      Files.write(file, bytes);
      SnapshotFiles.Meta verified = null;
      try {
        verified = SnapshotFiles.verify(file);
      } catch (StorageException e) {
        assertClear(e);
      }
      var rows = new ArrayList<SnapshotFiles.Row>();
      SnapshotFiles.Meta read;
      try {
        read = SnapshotFiles.read(file, rows::add);
      } catch (StorageException e) {
        assertClear(e);
        return;
      }
      assertEquals(read.keyCount(), rows.size(), "read returned a different number of rows than its meta says");
      if (verified != null) {
        assertEquals(verified, read, "verify and read disagree on the meta");
      }
      for (var row : rows) {
        assertNotNull(row.key(), "a row without a key");
        assertNotNull(row.value(), "a row without a value");
        assertTrue(row.key().length > 0, "a row with an empty key");
        assertTrue(row.version() >= 1 && row.createRevision() >= 1 && row.createRevision() <= row.modRevision()
            && row.modRevision() <= read.revision(), "a row whose revisions cannot be: create "
            + row.createRevision() + ", mod " + row.modRevision() + ", version " + row.version()
            + " in a snapshot at revision " + read.revision());
      }
    } finally {
      delete(dir);
    }
  }

  private static void assertClear(StorageException e) {
    assertNotNull(e.getMessage(), "a StorageException without a message");
    assertFalse(e.getMessage().isBlank(), "a StorageException without a message");
  }

  private static void delete(Path dir) throws IOException {
    try (var files = Files.walk(dir)) {
      files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> {
        try {
          Files.delete(p);
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        }
      });
    }
  }
}
