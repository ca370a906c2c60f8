package dev.kvraft.storage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Reading kvraft.db's changes by revision, as a watch's catch-up does, and where its history starts. */
class HistoryReaderTest {
  @TempDir
  Path dir;

  private static byte[] b(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static String s(byte[] b) {
    return new String(b, StandardCharsets.UTF_8);
  }

  /** Entry idx holds one put of key at rev (version and create revision given). */
  private static void put(LogMirror m, long idx, String key, String value, long rev, long created, long version)
      throws Exception {
    m.entry(idx, 1, EntryKind.NORMAL, "n1@x", 1, "put " + key, null);
    m.op(idx, 0, OpKind.PUT, b(key), b(value), rev, version == 1 ? OpOutcome.CREATED : OpOutcome.UPDATED, created,
        version);
  }

  private static List<String> lines(List<HistoryReader.Change> changes) {
    var out = new ArrayList<String>();
    for (var c : changes) {
      out.add((c.delete() ? "DELETE " + s(c.key()) : "PUT " + s(c.key()) + "=" + s(c.value()) + " v" + c.version()
          + " c" + c.createRevision()) + " @" + c.revision());
    }
    return out;
  }

  @Test
  void pagesHoldWholeRevisionsInOrderAcrossChunks() throws Exception {
    var file = dir.resolve("kvraft.db");
    try (var m = LogMirror.open(file, 3, 100)) {
      put(m, 1, "a", "1", 1, 1, 1);
      m.commit();
      // A txn at revision 2: a put, a range delete of two keys... all of revision 2.
      m.entry(2, 1, EntryKind.NORMAL, "n1@x", 1, "txn", null);
      m.op(2, 0, OpKind.TXN, null, null, 0, OpOutcome.COMPARE_SUCCEEDED);
      m.op(2, 1, OpKind.PUT, b("b"), b("2"), 2, OpOutcome.CREATED, 2, 1);
      m.op(2, 2, OpKind.DELETE, b("a"), null, 2, OpOutcome.DELETED);
      m.op(2, 3, OpKind.DELETE, b("zz"), null, 0, OpOutcome.NOT_FOUND);
      m.commit();
      put(m, 3, "b", "3", 3, 2, 2);
      m.commit();
      put(m, 4, "a", "4", 4, 4, 1);
      m.commit();
    }
    try (var r = HistoryReader.open(file)) {
      var all = r.read(1, 100, Long.MAX_VALUE);
      assertTrue(all.end());
      assertEquals(5, all.next());
      assertEquals(List.of("PUT a=1 v1 c1 @1", "PUT b=2 v1 c2 @2", "DELETE a @2", "PUT b=3 v2 c2 @3",
          "PUT a=4 v1 c4 @4"), lines(all.changes()));
      // Two rows allowed: revision 1, then revision 2 whole (never a part of it), then the rest.
      var p1 = r.read(1, 2, Long.MAX_VALUE);
      assertEquals(List.of("PUT a=1 v1 c1 @1"), lines(p1.changes()));
      var p2 = r.read(p1.next(), 1, Long.MAX_VALUE);
      assertEquals(List.of("PUT b=2 v1 c2 @2", "DELETE a @2"), lines(p2.changes()), "a revision is never split");
      var p3 = r.read(p2.next(), 1, Long.MAX_VALUE);
      assertEquals(List.of("PUT b=3 v2 c2 @3"), lines(p3.changes()));
      // A byte bound ends a page too, at a revision's end: 3 bytes hold revision 1 ("a"+"1"), never half of 2.
      var small = r.read(1, 100, 3);
      assertEquals(List.of("PUT a=1 v1 c1 @1"), lines(small.changes()));
      assertEquals(2, small.next());
      var whole = r.read(2, 100, 1);
      assertEquals(List.of("PUT b=2 v1 c2 @2", "DELETE a @2"), lines(whole.changes()), "one revision comes whole");
      // Nothing new: the end, and next stays.
      var none = r.read(5, 10, Long.MAX_VALUE);
      assertTrue(none.end());
      assertEquals(5, none.next());
      assertTrue(none.changes().isEmpty());
      // The key before a revision: a put, or nothing when the last change was a delete.
      assertEquals("2", s(r.before(b("b"), 3).value()));
      assertNull(r.before(b("a"), 4), "a was deleted at 2");
      assertEquals("1", s(r.before(b("a"), 2).value()));
    }
  }

  @Test
  void historyStartsAfterCompactionPruningAndASnapshotInstalledOverAGap() throws Exception {
    var file = dir.resolve("kvraft.db");
    try (var m = LogMirror.open(file)) {
      assertEquals(1, m.historyFrom());
      for (int i = 1; i <= 10; i++) {
        put(m, i, "k", "v" + i, i, 1, i);
      }
      m.commit();
      m.compact(4);
      assertEquals(4, m.historyFrom());
      m.prune(6);
      assertEquals(7, m.historyFrom(), "entries up to 6 held revisions up to 6");
      // A snapshot at revision 10 changes nothing (this file has everything to 10); one at 50 leaves a gap.
      m.entry(11, 1, EntryKind.SNAPSHOT_INSTALL, "", 0, "restart", null);
      m.installed(10);
      m.commit();
      assertEquals(7, m.historyFrom());
      m.entry(60, 2, EntryKind.SNAPSHOT_INSTALL, "", 0, "installed from the leader", null);
      m.installed(50);
      m.commit();
      assertEquals(51, m.historyFrom());
    }
    try (var m = LogMirror.open(file)) {
      assertEquals(51, m.historyFrom(), "kept in meta");
      assertEquals(50, m.maxRevision());
    }
    try (var r = HistoryReader.open(file)) {
      assertEquals(51, r.read(8, 10, Long.MAX_VALUE).compactedBelow());
      var p = r.read(51, 10, Long.MAX_VALUE);
      assertEquals(0, p.compactedBelow());
      assertTrue(p.end());
      assertEquals(51, p.next());
    }
  }

  /** One operation row as written, for the brute-force answers below. */
  private record Row(long idx, int seq, long revision, String key) {}

  /**
   * The chunks have no index on revision: a read from a revision, and a compaction below one, find where it starts
   * by a binary search over the primary key. Checked against every row: random entries of one to five operations
   * (txns whose rows share a revision, some rows that changed nothing, gaps in the indexes) over several chunks.
   */
  @Test
  void readsAndCompactionFindRevisionsWithoutAnIndexOnThem() throws Exception {
    var file = dir.resolve("kvraft.db");
    var random = new java.util.Random(20261207);
    var rows = new ArrayList<Row>();
    var entries = new java.util.TreeMap<Long, Long>(); // index -> the store revision it left
    long rev = 0;
    try (var m = LogMirror.open(file, 40, 100)) {
      long idx = 1;
      for (int entry = 0; entry < 150; entry++) {
        idx += 1 + random.nextInt(3); // empty entries and elections leave gaps
        int ops = 1 + random.nextInt(5);
        m.entry(idx, 1, EntryKind.NORMAL, "n1@x", ops, "ops", null);
        boolean txn = random.nextInt(4) == 0;
        long txnRevision = rev + 1; // a txn's changes share one revision (none when it changed nothing)
        for (int seq = 0; seq < ops; seq++) {
          var key = "k" + random.nextInt(20);
          boolean nothing = random.nextInt(6) == 0; // a delete of a missing key
          long r = nothing ? 0 : txn ? (rev = txnRevision) : ++rev;
          if (nothing) {
            m.op(idx, seq, OpKind.DELETE, b(key), null, 0, OpOutcome.NOT_FOUND);
          } else {
            m.op(idx, seq, OpKind.PUT, b(key), b("v" + r), r, OpOutcome.UPDATED, 1, r);
            rows.add(new Row(idx, seq, r, key));
          }
        }
        m.commit();
        entries.put(idx, rev);
      }
    }
    assertTrue(rows.size() > 200, "several chunks of 40 rows");
    // Each entry records the store revision it left, and the search finds the entry that reached a revision.
    try (var db = java.sql.DriverManager.getConnection("jdbc:sqlite:" + file); var st = db.createStatement()) {
      var recorded = new java.util.TreeMap<Long, Long>();
      try (var rs = st.executeQuery("SELECT idx, revision FROM raft_log")) {
        while (rs.next()) {
          recorded.put(rs.getLong(1), rs.getLong(2));
        }
      }
      assertEquals(entries, recorded);
      for (long r = 0; r <= rev + 1; r++) {
        long want = r;
        long expected = entries.entrySet().stream().filter(e -> e.getValue() >= Math.max(1, want)).findFirst()
            .map(java.util.Map.Entry::getKey).orElse(MirrorSchema.NONE);
        assertEquals(expected, MirrorSchema.firstEntryReaching(st, r), "the entry that reached revision " + r);
      }
    }
    long max = rev;
    try (var r = HistoryReader.open(file)) {
      for (long from = 1; from <= max + 1; from++) {
        long f = from;
        var expected = rows.stream().filter(x -> x.revision() >= f).map(x -> x.key() + "@" + x.revision()).toList();
        var got = new ArrayList<String>();
        long next = from;
        for (int pages = 0; pages < 1000; pages++) {
          var page = r.read(next, 1 + random.nextInt(7), Long.MAX_VALUE);
          page.changes().forEach(c -> got.add(s(c.key()) + "@" + c.revision()));
          next = page.next();
          if (page.end()) {
            break;
          }
        }
        assertEquals(expected, got, "read from revision " + from);
        assertEquals(max + 1, next);
      }
    }
    long first = max / 3;
    long below = max / 2 + 1;
    try (var m = LogMirror.open(file, 40, 100)) {
      assertEquals(max, m.maxRevision(), "read back at open");
      assertEquals(rows.stream().filter(x -> x.revision() < first).count(), m.compact(first));
      // The second starts where the first's revision began.
      assertEquals(rows.stream().filter(x -> x.revision() >= first && x.revision() < below).count(),
          m.compact(below));
    }
    try (var r = HistoryReader.open(file)) {
      assertEquals(below, r.read(1, 10, Long.MAX_VALUE).compactedBelow());
      var left = new ArrayList<String>();
      try (var db = java.sql.DriverManager.getConnection("jdbc:sqlite:" + file); var st = db.createStatement();
           var rs = st.executeQuery("SELECT key, revision FROM raft_log_ops WHERE revision > 0 ORDER BY idx, seq")) {
        while (rs.next()) {
          left.add(rs.getString(1) + "@" + rs.getLong(2));
        }
      }
      assertEquals(rows.stream().filter(x -> x.revision() >= below).map(x -> x.key() + "@" + x.revision()).toList(),
          left, "compaction deletes exactly the changes below its revision");
    }
  }
}
