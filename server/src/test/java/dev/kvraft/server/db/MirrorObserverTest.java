package dev.kvraft.server.db;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.protobuf.ByteString;
import dev.kvraft.storage.EntryKind;
import dev.kvraft.storage.LogMirror;
import dev.kvraft.storage.OpKind;
import dev.kvraft.storage.OpOutcome;
import java.nio.file.Path;
import java.util.function.LongSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What {@link MirrorObserver} reports about {@code kvraft.db} (the {@code kvraft_mirror_rows} metric). */
class MirrorObserverTest {
  @TempDir
  Path dir;

  @Test
  void entryCountFollowsAReplacedLogThatStartsTheFileAgainAndAPruneThatTakesNothing() throws Exception {
    var file = dir.resolve("kvraft.db");
    var observer = new MirrorObserver(LogMirror.open(file), 10); // log.retention: 10 entries below a snapshot
    try {
      for (long idx = 1; idx <= 10; idx++) {
        put(observer, 1, idx, idx);
      }
      observer.flush();
      awaitEquals(10, observer::committedIndex, "committed index");
      assertEquals(10, observer.entries(), "entries 1..10 are kept");

      // A replaced Raft log meets index 8 with another term: the file starts again from it, so it holds 8..12.
      for (long idx = 8; idx <= 12; idx++) {
        put(observer, 2, idx, 100 + idx);
      }
      observer.flush();
      awaitEquals(12, observer::committedIndex, "committed index after the replaced log");
      assertEquals(5, observer.entries(), "entries 8..12 are all the file holds after it started again");

      // A snapshot at 12 prunes up to index 2 (12 less the 10 kept), which the file no longer holds: nothing goes.
      observer.snapshotTaken(12);
      put(observer, 2, 13, 113);
      observer.flush();
      awaitEquals(13, observer::committedIndex, "committed index after the snapshot");
      assertEquals(6, observer.entries(), "entries 8..13, whatever the prune's bound named");

      // A snapshot at 20 prunes up to index 10, inside the file: 8..10 go, 11..20 stay.
      for (long idx = 14; idx <= 20; idx++) {
        put(observer, 2, idx, 100 + idx);
      }
      observer.snapshotTaken(20);
      awaitEquals(10, observer::entries, "entries 11..20 after the prune");
      assertEquals(20, observer.committedIndex(), "committed index after the prune");
      assertEquals(120, observer.committedRevision(), "committed revision after the prune");
    } finally {
      observer.close(); // closes the LogMirror on its writer thread
    }
    try (var mirror = LogMirror.open(file)) {
      assertEquals(11, mirror.minIndex(), "the file's first entry");
      assertEquals(20, mirror.maxIndex(), "the file's last entry");
    }
  }

  private static void put(MirrorObserver observer, long term, long idx, long revision) {
    var ops = observer.beginEntry(LogPosition.of(term, idx), EntryKind.NORMAL, "n1", 1, "put k", ByteString.EMPTY);
    ops.applied(OpKind.PUT, ByteString.copyFromUtf8("k" + idx), ByteString.copyFromUtf8("v"), revision,
        OpOutcome.CREATED);
  }

  private static void awaitEquals(long expected, LongSupplier actual, String what) throws InterruptedException {
    long deadline = System.nanoTime() + 10_000_000_000L;
    while (actual.getAsLong() != expected && System.nanoTime() < deadline) {
      Thread.sleep(10); // a poll with a deadline: the writer commits every MirrorObserver.COMMIT_EVERY_MS
    }
    assertEquals(expected, actual.getAsLong(), what);
  }
}
