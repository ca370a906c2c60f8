package dev.kvraft.storage;

import static dev.kvraft.storage.MirrorFixtures.b;
import static dev.kvraft.storage.MirrorFixtures.catchUp;
import static dev.kvraft.storage.MirrorFixtures.chunks;
import static dev.kvraft.storage.MirrorFixtures.dump;
import static dev.kvraft.storage.MirrorFixtures.entryRevisions;
import static dev.kvraft.storage.MirrorFixtures.plan;
import static dev.kvraft.storage.MirrorFixtures.put;
import static dev.kvraft.storage.MirrorFixtures.putTen;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.DriverManager;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LogMirrorTest {
  @TempDir
  Path dir;

  @Test
  void recordsEntriesAndAKeysHistoryInOrder() throws Exception {
    try (var m = LogMirror.open(dir.resolve("kvraft.db"))) {
      put(m, 1, 1, "a", "1", 1);
      m.entry(2, 1, EntryKind.CONFIGURATION, "", 0, "peers n1@127.0.0.1:7380", null);
      put(m, 3, 2, "a", "2", 2);
      m.entry(4, 2, EntryKind.NORMAL, "n1@x", 2, "txn", b("p"));
      m.op(4, 0, OpKind.TXN, null, null, 0, OpOutcome.COMPARE_FAILED);
      m.op(4, 1, OpKind.DELETE, b("a"), null, 3, OpOutcome.DELETED);
      m.commit();
      var history = m.history(b("a"));
      assertEquals(List.of(1L, 3L, 4L), history.stream().map(LogMirror.KeyEvent::idx).toList());
      assertEquals(List.of(1L, 2L, 2L), history.stream().map(LogMirror.KeyEvent::term).toList());
      assertEquals("deleted", history.get(2).result());
      assertArrayEquals(b("2"), history.get(1).value());
      assertEquals(4, m.maxIndex());
    }
  }

  @Test
  void reapplyingTheSameEntriesChangesNothing() throws Exception {
    var file = dir.resolve("kvraft.db");
    try (var m = LogMirror.open(file)) {
      put(m, 1, 1, "a", "1", 1);
      put(m, 2, 1, "b", "1", 2);
      m.commit();
    }
    var before = dump(file);
    try (var m = LogMirror.open(file)) {
      put(m, 1, 1, "a", "1", 1);
      put(m, 2, 1, "b", "1", 2);
      put(m, 3, 1, "c", "1", 3);
      m.commit();
    }
    var after = dump(file);
    assertEquals(before + "3|1|normal\n", after, "old rows untouched (applied_at too), the new one added");
  }

  @Test
  void anEntryWithAnotherTermAtTheSameIndexReplacesTheOld() throws Exception {
    try (var m = LogMirror.open(dir.resolve("kvraft.db"))) {
      put(m, 1, 1, "a", "old", 1);
      m.commit();
      put(m, 1, 5, "b", "new", 1);
      m.commit();
      assertEquals(List.of(), m.history(b("a")));
      assertEquals(5, m.history(b("b")).get(0).term());
    }
  }

  /**
   * An entry with another term at a recorded index: the Raft log was replaced. The file starts again from it (the
   * entries after it belonged to the old log by Raft's log matching, and those before it were never all compared), and
   * history starts after the store's revision before it, in the same transaction: a watch from before is told so.
   * Kept, the old entries' revisions sat around the new ones, and a watch reading from there missed the new ones.
   */
  @Test
  void anEntryWithAnotherTermStartsTheFileAgain() throws Exception {
    var file = dir.resolve("kvraft.db");
    try (var m = LogMirror.open(file, 4, 100)) {
      for (int i = 1; i <= 10; i++) {
        put(m, i, 1, "k" + i, "old" + i, i);
        m.commit();
      }
      // The new log's entry 3 holds ten puts, revisions 3 to 12.
      m.entry(3, 2, EntryKind.NORMAL, "n1@x", 10, "batch", null);
      for (int seq = 0; seq < 10; seq++) {
        m.op(3, seq, OpKind.PUT, b("n" + seq), b("new" + seq), 3 + seq, OpOutcome.CREATED);
      }
      assertEquals(3, m.maxIndex());
      assertEquals(11, m.historyFrom(), "after the store's revision before entry 3 in term 2");
      m.commit();
      assertEquals(12, m.maxRevision());
      assertEquals(List.of(), m.history(b("k1")));
      assertEquals(List.of(), m.history(b("k5")));
      assertEquals(3, m.minIndex());
      try (var st = m.connection().createStatement();
           var rs = st.executeQuery("SELECT count(*) FROM raft_log_ops WHERE idx <> 3")) {
        assertEquals(0, rs.getInt(1), "no row of the old log is left");
      }
    }
    try (var m = LogMirror.open(file, 4, 100)) {
      assertEquals(3, m.maxIndex());
      assertEquals(12, m.maxRevision());
      assertEquals(11, m.historyFrom());
    }
    try (var r = HistoryReader.open(file)) {
      assertEquals(11, r.read(2, 10, Long.MAX_VALUE).compactedBelow());
    }
    assertEquals(List.of(11L, 12L), catchUp(file, 11).stream().map(HistoryReader.Change::revision).toList());
  }

  @Test
  void binaryKeysAreBlobsAndStillFindable() throws Exception {
    var key = new byte[] {0, (byte) 0xff, 1};
    try (var m = LogMirror.open(dir.resolve("kvraft.db"))) {
      m.entry(1, 1, EntryKind.NORMAL, "n1@x", 1, "", null);
      m.op(1, 0, OpKind.PUT, key, new byte[] {(byte) 0xfe}, 1, OpOutcome.CREATED);
      m.commit();
      assertEquals(1, m.history(key).size());
      assertArrayEquals(new byte[] {(byte) 0xfe}, m.history(key).get(0).value());
    }
    try (var db = DriverManager.getConnection("jdbc:sqlite:" + dir.resolve("kvraft.db"));
         var st = db.createStatement();
         var rs = st.executeQuery("SELECT typeof(key), typeof(value) FROM raft_log_ops")) {
      assertEquals("blob", rs.getString(1));
      assertEquals("blob", rs.getString(2));
    }
  }

  /** Issue #19: a new file gives pages freed by pruning back to the file system, in bounded steps. */
  @Test
  void prunedPagesGoBackToTheFileSystem() throws Exception {
    var file = dir.resolve("shrinks.db");
    try (var m = LogMirror.open(file)) {
      var value = "v".repeat(4000);
      for (int i = 0; i < 2000; i++) {
        put(m, i, 1, "k" + (i % 50), value, i + 1);
      }
      m.commit();
      long live = m.liveBytes();
      long size = m.fileBytes();
      assertTrue(live > 8_000_000 && size >= live, live + " live of " + size);
      assertEquals(m.maxIndex() * 3 / 4, m.indexAtFraction(0.75));
      m.prune(m.indexAtFraction(0.75));
      assertTrue(m.liveBytes() < live / 2, "pruning frees the rows' pages: " + m.liveBytes() + " of " + live);
      assertEquals(size, m.fileBytes(), "the file keeps its size until the pages are given back");
      long freed = m.reclaim(100);
      assertEquals(100, freed, "at most the pages asked for, per step");
      while (m.reclaim(1024) > 0) {
        // the rest, step by step
      }
      assertTrue(m.fileBytes() < size / 2, "the file shrank: " + m.fileBytes() + " of " + size);
    }
  }

  @Test
  void pruneDropsOldEntriesAndTheirOps() throws Exception {
    try (var m = LogMirror.open(dir.resolve("kvraft.db"))) {
      for (int i = 1; i <= 10; i++) {
        put(m, i, 1, "k", "v" + i, i);
      }
      m.commit();
      assertEquals(4, m.prune(4));
      assertEquals(5, m.minIndex());
      assertEquals(6, m.history(b("k")).size());
    }
  }

  @Test
  void fullChunksAreSealedWithAKeyIndexAndHistorySpansThemAll() throws Exception {
    var file = dir.resolve("kvraft.db");
    try (var m = LogMirror.open(file, 4, 100)) {
      for (int i = 1; i <= 20; i++) {
        put(m, i, 1, i % 2 == 0 ? "even" : "odd", "v" + i, i);
        if (i % 2 == 0) {
          m.commit();   // a chunk is sealed only between commits, once it holds 4 rows or more
        }
      }
      m.commit();
      assertEquals(List.of(2L, 4L, 6L, 8L, 10L, 12L, 14L, 16L, 18L, 20L),
          m.history(b("even")).stream().map(LogMirror.KeyEvent::idx).toList());
      assertArrayEquals(b("v19"), m.history(b("odd")).getLast().value());
    }
    var chunks = chunks(file);
    assertEquals(List.of(0L, 5L, 9L, 13L, 17L), List.copyOf(chunks.keySet()));
    assertEquals(List.of(true, true, true, true, false), List.copyOf(chunks.values()),
        "every chunk but the newest has its key index");
    var plan = plan(file, "SELECT * FROM raft_log_ops WHERE key = 'odd'");
    assertEquals(4, plan.stream().filter(l -> l.contains("USING INDEX raft_log_ops_from_")).count(), plan.toString());
    try (var m = LogMirror.open(file, 4, 100)) {
      put(m, 21, 1, "odd", "v21", 21);
      m.commit();
      assertEquals(11, m.history(b("odd")).size(), "a reopened mirror appends to the open chunk");
    }
  }

  @Test
  void pruneDropsWholeChunksAndTrimsTheRest() throws Exception {
    var file = dir.resolve("kvraft.db");
    try (var m = LogMirror.open(file, 3, 100)) {
      for (int i = 1; i <= 12; i++) {
        put(m, i, 1, "k", "v" + i, i);
        m.commit();
      }
      assertEquals(List.of(0L, 4L, 7L, 10L), List.copyOf(chunks(file).keySet()));
      assertEquals(7, m.prune(7));
      assertEquals(List.of(7L, 10L), List.copyOf(chunks(file).keySet()), "chunks wholly at or below 7 dropped");
      assertEquals(List.of(8L, 9L, 10L, 11L, 12L), m.history(b("k")).stream().map(LogMirror.KeyEvent::idx).toList());
      assertEquals(8, m.minIndex());
    }
  }

  /**
   * A log replaced while the open chunk was full: the file starts again in a chunk from the new entry, and keeps
   * sealing chunks (each with its key index) across reopens. It once took a chunk sealed before a reopen for the open
   * one and failed the next seal ("index ... already exists").
   */
  @Test
  void aLogReplacedWhileTheOpenChunkIsFullKeepsTheMirrorWorkingAfterReopen() throws Exception {
    var file = dir.resolve("kvraft.db");
    try (var m = LogMirror.open(file, 3, 100)) {
      for (int i = 1; i <= 30; i++) {
        put(m, i, 1, "k", "v" + i, i);
        m.commit();
      }
      assertEquals(28L, List.copyOf(chunks(file).keySet()).getLast(), "the open chunk holds 28, 29 and 30: full");
      for (int i = 27; i <= 28; i++) {
        put(m, i, 2, "k", "w" + i, 30 + i);
        m.commit();
      }
      assertEquals(List.of(27L), List.copyOf(chunks(file).keySet()));
    }
    for (int round = 0; round < 2; round++) {   // each reopen, then commits enough to seal chunks
      try (var m = LogMirror.open(file, 3, 100)) {
        long from = round == 0 ? 29 : 36;
        for (long i = from; i < from + 7; i++) {
          put(m, i, 2, "k", "w" + i, 30 + i);
          m.commit();
        }
      }
    }
    try (var m = LogMirror.open(file, 3, 100)) {
      var history = m.history(b("k"));
      assertEquals(java.util.stream.LongStream.rangeClosed(27, 42).boxed().toList(),
          history.stream().map(LogMirror.KeyEvent::idx).toList());
      assertTrue(history.stream().allMatch(e -> e.term() == 2), "only the new log's entries");
      assertEquals(31, m.historyFrom());
    }
    var revisions = catchUp(file, 57).stream().map(HistoryReader.Change::revision).toList();
    assertEquals(java.util.stream.LongStream.rangeClosed(57, 72).boxed().toList(), revisions);
    var sealed = List.copyOf(chunks(file).values());
    assertEquals(Boolean.FALSE, sealed.getLast(), "the newest chunk is the open one");
    assertTrue(sealed.subList(0, sealed.size() - 1).stream().allMatch(x -> x), "every other chunk has its key index");
  }

  @Test
  void beyondTheChunkCapTheOldestChunkGoesWithItsEntries() throws Exception {
    var file = dir.resolve("kvraft.db");
    try (var m = LogMirror.open(file, 2, 3)) {
      for (int i = 1; i <= 9; i++) {
        put(m, i, 1, "k", "v" + i, i);
        m.commit();
      }
      assertEquals(List.of(5L, 7L, 9L), List.copyOf(chunks(file).keySet()));
      assertEquals(5, m.minIndex());
      assertEquals(5, m.history(b("k")).size());
    }
  }

  /**
   * Entries after the snapshot are applied again at every restart. One that pruning took (by bytes or age, above the
   * snapshot too) stays gone: brought back, its rows sat among newer ones and its entry took the file's highest
   * revision, so revisions fell along the indexes. Every entry records the store revision it left.
   */
  @Test
  void prunedEntriesStayGoneWhenReplayedAndEveryEntryRecordsItsRevision() throws Exception {
    var file = dir.resolve("kvraft.db");
    try (var m = LogMirror.open(file)) {
      putTen(m);
      m.prune(6);
    }
    try (var m = LogMirror.open(file)) {   // restarted from a snapshot at 2: entries 3 to 10 again, then new ones
      m.entry(2, 1, EntryKind.SNAPSHOT_INSTALL, "", 0, "restart", null);
      m.installed(2);
      for (int i = 3; i <= 12; i++) {
        put(m, i, 1, "k", "v" + i, i);
      }
      m.entry(13, 1, EntryKind.NORMAL, "n1@x", 0, "read barrier", null);
      m.entry(20, 2, EntryKind.SNAPSHOT_INSTALL, "", 0, "installed from the leader", null);
      m.installed(50);
      m.commit();
      assertEquals(List.of(7L, 8L, 9L, 10L, 11L, 12L), m.history(b("k")).stream().map(LogMirror.KeyEvent::idx)
          .toList(), "3 to 6 were pruned");
    }
    assertEquals("7:7,8:8,9:9,10:10,11:11,12:12,13:12,20:50", entryRevisions(file));
  }

  /**
   * A replaced Raft log over entries pruning took: its entries there are skipped as pruned and leave no rows, and the
   * first recorded one with another term starts the file again, history starting after the revision the skipped
   * entries reached (their operations still tell it). A watch from one of their revisions is told so, rather than
   * missing them silently (found by review: history once started above the old log's revisions, below these).
   */
  @Test
  void aLogReplacedOverPrunedEntriesStartsHistoryAfterTheSkippedOnes() throws Exception {
    var file = dir.resolve("kvraft.db");
    try (var m = LogMirror.open(file)) {
      putTen(m);
      m.prune(6);
      assertEquals(7, m.historyFrom());
    }
    try (var m = LogMirror.open(file)) {   // the new log: entry 5 makes revisions 5 to 12, then one per entry
      m.entry(5, 2, EntryKind.NORMAL, "n1@x", 8, "batch", null);
      for (int seq = 0; seq < 8; seq++) {
        m.op(5, seq, OpKind.PUT, b("n" + seq), b("w"), 5 + seq, OpOutcome.CREATED);
      }
      for (int i = 6; i <= 8; i++) {
        put(m, i, 2, "k", "w" + i, i + 7);
      }
      m.commit();
      assertEquals(14, m.historyFrom(), "revisions 5 to 13 of the new log are not here");
      assertEquals(List.of(7L, 8L), m.history(b("k")).stream().map(LogMirror.KeyEvent::idx).toList());
    }
    try (var r = HistoryReader.open(file)) {
      assertEquals(14, r.read(11, 10, Long.MAX_VALUE).compactedBelow());
    }
    assertEquals(List.of(14L, 15L), catchUp(file, 14).stream().map(HistoryReader.Change::revision).toList());
    try (var db = DriverManager.getConnection("jdbc:sqlite:" + file); var st = db.createStatement();
         var rs = st.executeQuery("SELECT count(*) FROM raft_log_ops WHERE idx < 7")) {
      assertEquals(0, rs.getInt(1), "no row of the old log is left");
    }
  }

  /**
   * A replaced log whose revisions are lower than the old one's, met at the snapshot its replay begins with: history
   * starts after that snapshot's revision, not above the old log's (which the store may not reach for a long time),
   * and each new entry records its own revision.
   */
  @Test
  void aLogReplacedWithLowerRevisionsStartsHistoryAfterItsSnapshot() throws Exception {
    var file = dir.resolve("kvraft.db");
    try (var m = LogMirror.open(file)) {
      putTen(m);
      m.compact(5);
    }
    try (var m = LogMirror.open(file)) {
      m.entry(4, 2, EntryKind.SNAPSHOT_INSTALL, "", 0, "restart", null);
      m.installed(3);
      put(m, 5, 2, "k", "w4", 4);
      put(m, 6, 2, "k", "w5", 5);
      m.commit();
      assertEquals(4, m.historyFrom());
      assertEquals(5, m.maxRevision());
    }
    assertEquals(List.of(4L, 5L), catchUp(file, 4).stream().map(HistoryReader.Change::revision).toList());
    assertEquals("4:3,5:4,6:5", entryRevisions(file));
    try (var m = LogMirror.open(file)) {
      assertEquals(1, m.compact(5), "the old compaction went with the old log: revision 4 goes now");
    }
  }

  /**
   * The replay of a replaced log, skipped while its entries match the old ones' terms, tells the store's revision all
   * the same: from the snapshot it began with, or from 0 without one, raised by every operation (not lowered by one
   * that changed nothing). History starts after it when an entry with another term starts the file again.
   */
  @Test
  void aReplayedLogTellsWhereHistoryStartsAgainWithOrWithoutASnapshot() throws Exception {
    for (boolean snapshot : new boolean[] {true, false}) {
      var file = dir.resolve("kvraft-" + snapshot + ".db");
      try (var m = LogMirror.open(file)) {
        putTen(m);
      }
      try (var m = LogMirror.open(file)) {
        if (snapshot) {
          m.entry(2, 1, EntryKind.SNAPSHOT_INSTALL, "", 0, "restart", null);   // skipped: recorded, same term
          m.installed(2);
        } else {
          put(m, 1, 1, "k", "v1", 1);
          put(m, 2, 1, "k", "v2", 2);
        }
        put(m, 3, 1, "k", "v3", 3);
        put(m, 4, 1, "k", "v4", 4);
        m.entry(5, 1, EntryKind.NORMAL, "n1@x", 1, "delete", null);   // changed nothing
        m.op(5, 0, OpKind.DELETE, b("gone"), null, 0, OpOutcome.NOT_FOUND);
        put(m, 6, 2, "k", "w5", 5);
        m.commit();
        assertEquals(5, m.historyFrom(), "snapshot " + snapshot);
      }
      assertEquals(List.of(5L), catchUp(file, 5).stream().map(HistoryReader.Change::revision).toList());
      assertEquals("6:5", entryRevisions(file));
    }
  }

  /**
   * The disk fills while a batch is recorded (here SQLite's page limit: SQLITE_FULL, as from a full disk), the node
   * goes on without the mirror, room comes back, the node stops and starts again. The failed batch must not reach the
   * file at the stop: a single-row insert that fails so rolls SQLite's whole transaction back (the entry went with
   * it), and the close used to commit the operation still buffered, alone. The restart then replayed the entry and
   * its operation hit the orphan's primary key: kvraft.db failed again at every start.
   */
  @Test
  void aBatchThatFailedOnAFullDiskIsNotWrittenAtCloseAndIsRecordedWhenReplayed() throws Exception {
    var file = dir.resolve("kvraft.db");
    var big = "v".repeat(20_000);
    var m = LogMirror.open(file);
    try {
      for (int i = 1; i <= 3; i++) {
        put(m, i, 1, "k" + i, "v" + i, i);
      }
      m.commit();
      try (var st = m.connection().createStatement()) {
        long pages;
        try (var rs = st.executeQuery("PRAGMA page_count")) {
          pages = rs.getLong(1);
        }
        st.execute("PRAGMA max_page_count = " + pages); // the disk is full
        put(m, 4, 1, "k4", big, 4);
        var full = assertThrows(StorageException.class, m::commit);
        assertTrue(full.getMessage().contains("SQLITE_FULL"), full.getMessage());
        st.execute("PRAGMA max_page_count = 1000000"); // room again before the node stops
      }
    } finally {
      try {
        m.close();
      } catch (StorageException e) {
        // the node logs it and stops (MirrorObserver)
      }
    }
    try (var db = DriverManager.getConnection("jdbc:sqlite:" + file); var st = db.createStatement();
         var rs = st.executeQuery("SELECT count(*) FROM raft_log_ops o"
             + " WHERE NOT EXISTS (SELECT 1 FROM raft_log l WHERE l.idx = o.idx)")) {
      assertEquals(0, rs.getLong(1), "operations without their entry");
    }
    try (var again = LogMirror.open(file)) {
      assertEquals(3, again.maxIndex());
      for (int i = 1; i <= 3; i++) {
        put(again, i, 1, "k" + i, "v" + i, i); // replayed after the snapshot: already there, skipped
      }
      put(again, 4, 1, "k4", big, 4);
      again.commit();
      var history = again.history(b("k4"));
      assertEquals(1, history.size());
      assertEquals(big, new String(history.getFirst().value(), StandardCharsets.UTF_8));
    }
  }

  /**
   * {@code log.retention.age} prunes the entries applied before a cutoff, compared as {@code applied_at} text. Both
   * were written with {@link java.time.Instant#toString}, which leaves out the fraction at a whole second, so a cutoff
   * at 12:00:06 ("12:00:06Z") sorted after an entry applied at 12:00:06.250 ("12:00:06.250Z"): that entry counted as
   * applied before the cutoff. (An entry applied at a whole second sorted after the rest of its second the same way,
   * in operators' queries too.)
   */
  @Test
  void anEntryAppliedAfterACutoffAtAWholeSecondIsNotCountedAsBeforeIt() throws Exception {
    var file = dir.resolve("kvraft.db");
    try (var m = LogMirror.open(file)) {
      long idx = 0;
      java.time.Instant applied;
      do { // an entry applied after a whole second (999 times in 1,000 the first)
        idx++;
        put(m, idx, 1, "k", "v" + idx, idx);
        m.commit();
        try (var db = DriverManager.getConnection("jdbc:sqlite:" + file); var st = db.createStatement();
             var rs = st.executeQuery("SELECT applied_at FROM raft_log WHERE idx = " + idx)) {
          applied = java.time.Instant.parse(rs.getString(1));
        }
      } while (applied.getNano() == 0);
      var cutoff = applied.truncatedTo(java.time.temporal.ChronoUnit.SECONDS);
      assertTrue(m.lastIndexAppliedBefore(cutoff) < idx, "entry " + idx + " applied at " + applied
          + " counted as applied before " + cutoff);
    }
  }
}
