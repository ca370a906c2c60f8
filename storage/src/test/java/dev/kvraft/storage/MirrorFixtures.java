package dev.kvraft.storage;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.DriverManager;
import java.util.ArrayList;
import java.util.List;

/** What the kvraft.db tests ({@link LogMirrorTest}, {@link MirrorSchemaTest}) write into a file and read back. */
final class MirrorFixtures {
  private MirrorFixtures() {}

  static byte[] b(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  static void put(LogMirror m, long idx, long term, String key, String value, long rev) throws Exception {
    m.entry(idx, term, EntryKind.NORMAL, "n1@x", 1, "put " + key, b("payload"));
    m.op(idx, 0, OpKind.PUT, b(key), b(value), rev, OpOutcome.CREATED);
  }

  /** Entries 1 to 10, one put of "k" each, term 1, revision = index, each committed. */
  static void putTen(LogMirror m) throws Exception {
    for (int i = 1; i <= 10; i++) {
      put(m, i, 1, "k", "v" + i, i);
      m.commit();
    }
  }

  /** raft_log's rows as "idx:revision", in index order, comma-separated. */
  static String entryRevisions(Path file) throws Exception {
    try (var db = DriverManager.getConnection("jdbc:sqlite:" + file); var st = db.createStatement();
         var rs = st.executeQuery("SELECT group_concat(r) FROM (SELECT idx || ':' || revision AS r FROM raft_log"
             + " ORDER BY idx)")) {
      return rs.getString(1);
    }
  }

  /** Chunk tables (first index -> has a key index), from the schema. */
  static java.util.Map<Long, Boolean> chunks(Path file) throws Exception {
    var map = new java.util.TreeMap<Long, Boolean>();
    try (var db = DriverManager.getConnection("jdbc:sqlite:" + file); var st = db.createStatement();
         var rs = st.executeQuery("SELECT t.name, (SELECT count(*) FROM sqlite_master i WHERE i.type = 'index'"
             + " AND i.tbl_name = t.name AND i.name LIKE '%_by_key') FROM sqlite_master t WHERE t.type = 'table'"
             + " AND t.name LIKE 'raft_log_ops_from_%'")) {
      while (rs.next()) {
        map.put(Long.parseLong(rs.getString(1).substring("raft_log_ops_from_".length())), rs.getInt(2) > 0);
      }
    }
    return map;
  }

  static List<String> plan(Path file, String query) throws Exception {
    var lines = new java.util.ArrayList<String>();
    try (var db = DriverManager.getConnection("jdbc:sqlite:" + file); var st = db.createStatement();
         var rs = st.executeQuery("EXPLAIN QUERY PLAN " + query)) {
      while (rs.next()) {
        lines.add(rs.getString("detail"));
      }
    }
    return lines;
  }

  /** What a watch's catch-up from {@code from} reads, a few rows a page, to the end. */
  static List<HistoryReader.Change> catchUp(Path file, long from) throws Exception {
    var changes = new ArrayList<HistoryReader.Change>();
    try (var r = HistoryReader.open(file)) {
      HistoryReader.Page page;
      do {
        page = r.read(from, 4, Long.MAX_VALUE);
        assertEquals(0, page.compactedBelow(), "history starts at " + page.compactedBelow() + ", asked from " + from);
        changes.addAll(page.changes());
        from = page.next();
      } while (!page.end());
    }
    return changes;
  }

  static String dump(Path file) throws Exception {
    var sb = new StringBuilder();
    try (var db = DriverManager.getConnection("jdbc:sqlite:" + file); var st = db.createStatement();
         var rs = st.executeQuery("SELECT idx, term, kind, applied_at FROM raft_log ORDER BY idx")) {
      while (rs.next()) {
        sb.append(rs.getLong(1)).append('|').append(rs.getLong(2)).append('|').append(rs.getString(3));
        if (rs.getLong(1) <= 2) {
          sb.append('|').append(rs.getString(4));
        }
        sb.append('\n');
      }
    }
    return sb.toString();
  }
}
