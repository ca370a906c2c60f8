package dev.kvraft.storage;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SnapshotFilesTest {
  @TempDir
  Path dir;

  private static SnapshotFiles.Row row(byte[] key, String value, long rev) {
    return new SnapshotFiles.Row(key, value.getBytes(StandardCharsets.UTF_8), rev, rev, 1);
  }

  private Path write(long term, long index, List<SnapshotFiles.Row> rows) throws StorageException {
    var built = SnapshotFiles.build(dir.resolve("tmp"), term, index, 42, "peers n1", rows.size(), rows.iterator());
    return SnapshotFiles.moveInto(built, dir.resolve("sm"), term, index);
  }

  @Test
  void roundTripsTextAndBinaryKeys() throws Exception {
    var rows = List.of(row("a".getBytes(StandardCharsets.UTF_8), "1", 1), row(new byte[] {0, (byte) 0xff}, "2", 2));
    var file = write(3, 100, rows);
    assertEquals("snapshot.3_100", file.getFileName().toString());
    var read = new ArrayList<SnapshotFiles.Row>();
    var meta = SnapshotFiles.read(file, read::add);
    assertEquals(new SnapshotFiles.Meta(3, 100, 42, "peers n1", meta.createdAt(), 2, java.util.Map.of()), meta);
    assertEquals(2, read.size());
    var binary = read.stream().filter(r -> r.key().length == 2).findFirst().orElseThrow();
    assertArrayEquals(new byte[] {0, (byte) 0xff}, binary.key());
    assertEquals(meta, SnapshotFiles.verify(file));
    assertFalse(Files.list(dir.resolve("tmp")).findAny().isPresent(), "no temporary file is left behind");
  }

  /**
   * A data directory whose path holds a character that means something in a URI ('#', '?', a '%' escape). Snapshots
   * were read through a {@code file:} URI, so SQLite opened another path: every snapshot failed its verification (a
   * new node could not write its first one and never started), and an existing one could not be loaded.
   */
  @Test
  void snapshotsWorkUnderAPathWithUriCharacters() throws Exception {
    for (var name : List.of("node#1", "what?mode=rw", "50%25", "a b")) {
      var data = dir.resolve(name);
      var rows = List.of(row("a".getBytes(StandardCharsets.UTF_8), "1", 1));
      var built = SnapshotFiles.build(data.resolve("tmp"), 1, 9, 1, "", rows.size(), rows.iterator());
      var file = SnapshotFiles.moveInto(built, data.resolve("sm"), 1, 9);
      var read = new ArrayList<SnapshotFiles.Row>();
      assertEquals(9, SnapshotFiles.read(file, read::add).index(), name);
      assertEquals(1, read.size(), name);
      assertEquals(9, SnapshotFiles.verify(file).index(), name);
    }
    try (var files = Files.list(dir)) {
      assertEquals(List.of("50%25", "a b", "node#1", "what?mode=rw"),
          files.map(p -> p.getFileName().toString()).sorted().toList(), "nothing opened or created elsewhere");
    }
  }

  @Test
  void systemStateRoundTripsAndASnapshotWithoutTheTableReadsAsEmpty() throws Exception {
    var rows = List.of(row("a".getBytes(StandardCharsets.UTF_8), "1", 1));
    var built = SnapshotFiles.build(dir.resolve("tmp"), 2, 7, 1, "", java.util.Map.of("member_token", "00ff"),
        rows.size(), rows.iterator());
    var file = SnapshotFiles.moveInto(built, dir.resolve("sm"), 2, 7);
    assertEquals(java.util.Map.of("member_token", "00ff"), SnapshotFiles.read(file, r -> { }).system());
    // A snapshot from before the system table: the same file with the table dropped.
    try (var db = java.sql.DriverManager.getConnection("jdbc:sqlite:" + file)) {
      db.createStatement().execute("DROP TABLE system");
    }
    assertEquals(java.util.Map.of(), SnapshotFiles.verify(file).system());
  }

  @Test
  void aWrongKeyCountFailsAndLeavesNothing() {
    var rows = List.of(row("a".getBytes(StandardCharsets.UTF_8), "1", 1));
    assertThrows(StorageException.class,
        () -> SnapshotFiles.build(dir.resolve("tmp"), 1, 1, 1, "", 5, rows.iterator()));
    assertTrue(!Files.exists(dir.resolve("sm")));
  }

  @Test
  void corruptionIsDetected() throws Exception {
    var rows = new ArrayList<SnapshotFiles.Row>();
    for (int i = 0; i < 2000; i++) {
      rows.add(row(("key" + i).getBytes(StandardCharsets.UTF_8), "value" + i, i + 1));
    }
    var file = write(1, 10, rows);
    try (var raf = new RandomAccessFile(file.toFile(), "rw")) {
      raf.seek(Files.size(file) / 2);
      raf.write(new byte[4096]);
    }
    assertThrows(StorageException.class, () -> SnapshotFiles.verify(file));
  }

  @Test
  void listsNewestFirst() throws Exception {
    write(1, 5, List.of());
    write(2, 50, List.of());
    write(1, 7, List.of());
    assertEquals(List.of(50L, 7L, 5L),
        SnapshotFiles.list(dir.resolve("sm")).stream().map(SnapshotFiles::indexOf).toList());
  }
}
