package dev.kvraft.storage;

import static dev.kvraft.storage.MirrorFixtures.b;
import static dev.kvraft.storage.MirrorFixtures.catchUp;
import static dev.kvraft.storage.MirrorFixtures.chunks;
import static dev.kvraft.storage.MirrorFixtures.put;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.DriverManager;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * kvraft.db's schema: files of earlier versions migrated at open; a file that is not SQLite, or has a newer schema,
 * refused; damage inside the pages found by the quick check, not at open.
 */
class MirrorSchemaTest {
  @TempDir
  Path dir;

  @Test
  void aVersion1FileKeepsItsHistoryAsTheFirstChunk() throws Exception {
    var file = dir.resolve("kvraft.db");
    try (var db = DriverManager.getConnection("jdbc:sqlite:" + file); var st = db.createStatement()) {
      st.execute("CREATE TABLE raft_log (idx INTEGER PRIMARY KEY, term INTEGER NOT NULL, kind TEXT NOT NULL,"
          + " proposer TEXT, op_count INTEGER NOT NULL, summary TEXT, applied_at TEXT NOT NULL, payload BLOB)");
      st.execute("CREATE TABLE raft_log_ops (idx INTEGER NOT NULL, seq INTEGER NOT NULL, op TEXT NOT NULL, key,"
          + " value, revision INTEGER, result TEXT, PRIMARY KEY (idx, seq)) WITHOUT ROWID");
      st.execute("CREATE INDEX raft_log_ops_by_key ON raft_log_ops(key, idx)");
      st.execute("CREATE VIEW key_history AS SELECT o.key, o.op, o.value, o.revision, o.result, l.idx, l.term,"
          + " o.seq, l.proposer, l.applied_at FROM raft_log_ops o JOIN raft_log l ON l.idx = o.idx");
      st.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)");
      st.execute("INSERT INTO raft_log VALUES (3, 1, 'normal', 'n1@x', 1, 'put a', '2026-01-01T00:00:00Z', NULL)");
      st.execute("INSERT INTO raft_log_ops VALUES (3, 0, 'put', 'a', '1', 1, 'created')");
      st.execute("PRAGMA user_version = 1");
    }
    try (var m = LogMirror.open(file)) {
      assertEquals(3, m.maxIndex());
      put(m, 4, 1, "a", "2", 2);
      m.commit();
      assertEquals(List.of(3L, 4L), m.history(b("a")).stream().map(LogMirror.KeyEvent::idx).toList());
    }
    assertEquals(java.util.Map.of(3L, true, 4L, false), chunks(file));
    try (var db = DriverManager.getConnection("jdbc:sqlite:" + file); var st = db.createStatement();
         var rs = st.executeQuery("PRAGMA user_version")) {
      assertEquals(LogMirror.SCHEMA_VERSION, rs.getInt(1));
    }
  }

  @Test
  void aVersion3FileGetsEntryRevisionsAndStillServesItsHistory() throws Exception {
    var file = dir.resolve("kvraft.db");
    try (var m = LogMirror.open(file, 2, 100)) {
      for (int i = 1; i <= 5; i++) {
        put(m, i, 1, "k" + i, "v" + i, i);
        m.commit();
      }
    }
    var tables = List.copyOf(chunks(file).keySet());
    assertTrue(tables.size() >= 2, "several chunks: " + tables);
    // As kvraft wrote version 3: no revision in raft_log, an index on revision in every chunk.
    try (var db = DriverManager.getConnection("jdbc:sqlite:" + file); var st = db.createStatement()) {
      st.execute("ALTER TABLE raft_log DROP COLUMN revision");
      for (long t : tables) {
        st.execute("CREATE INDEX raft_log_ops_from_" + t + "_by_revision ON raft_log_ops_from_" + t + "(revision)");
      }
      st.execute("PRAGMA user_version = 3");
    }
    try (var m = LogMirror.open(file, 2, 100)) {
      assertEquals(5, m.maxRevision());
      for (int i = 6; i <= 9; i++) {   // seals the chunk open at the migration; the next ones have no such index
        put(m, i, 1, "k" + i, "v" + i, i);
        m.commit();
      }
    }
    var after = List.copyOf(chunks(file).keySet());
    assertTrue(after.size() > tables.size(), "new chunks: " + after);
    try (var db = DriverManager.getConnection("jdbc:sqlite:" + file); var st = db.createStatement()) {
      var indexed = new ArrayList<>(MirrorSchema.chunksIndexedByRevision(st));
      indexed.sort(null);
      assertEquals(tables, indexed, "the chunks from before keep their index on revision, the new ones have none");
      try (var rs = st.executeQuery("PRAGMA user_version")) {
        assertEquals(LogMirror.SCHEMA_VERSION, rs.getInt(1));
      }
      try (var rs = st.executeQuery("SELECT group_concat(r) FROM (SELECT coalesce(revision, 'null') AS r FROM raft_log"
          + " ORDER BY idx)")) {
        assertEquals("null,null,null,null,null,6,7,8,9", rs.getString(1), "the rows from before do not say");
      }
      assertEquals(MirrorSchema.UNKNOWN, MirrorSchema.firstEntryReaching(st, 5));
      assertEquals(6, MirrorSchema.firstEntryReaching(st, 6), "no row from before reached 6");
    }
    // From the rows written before (read by revision through their index) and after.
    var all = java.util.stream.LongStream.rangeClosed(1, 9).boxed().toList();
    for (long from = 1; from <= 9; from++) {
      assertEquals(all.subList((int) from - 1, 9), catchUp(file, from).stream().map(HistoryReader.Change::revision)
          .toList(), "from " + from);
    }
    try (var m = LogMirror.open(file, 2, 100)) {
      assertEquals(2, m.compact(3), "revisions 1 and 2, among the rows that do not say");
      assertEquals(5, m.compact(8), "then 3 to 7");
    }
    assertEquals(List.of(8L, 9L), catchUp(file, 8).stream().map(HistoryReader.Change::revision).toList());
  }

  /** A file of a development build that said version 4 before raft_log had its revision column gets it. */
  @Test
  void aVersion4FileWithoutTheEntryRevisionGetsIt() throws Exception {
    var file = dir.resolve("kvraft.db");
    try (var m = LogMirror.open(file)) {
      put(m, 1, 1, "k", "v1", 1);
      m.commit();
    }
    try (var db = DriverManager.getConnection("jdbc:sqlite:" + file); var st = db.createStatement()) {
      st.execute("ALTER TABLE raft_log DROP COLUMN revision");
    }
    try (var m = LogMirror.open(file)) {
      put(m, 2, 1, "k", "v2", 2);
      m.commit();
      assertEquals(2, m.maxRevision());
    }
    assertEquals(List.of(1L, 2L), catchUp(file, 1).stream().map(HistoryReader.Change::revision).toList());
  }

  @Test
  void aFileThatIsNotSqliteIsRefusedWithWhatToDo() throws Exception {
    var file = dir.resolve("kvraft.db");
    Files.write(file, new byte[8192]);
    Files.writeString(file, "this is not a database at all, just text padding".repeat(200));
    var e = assertThrows(StorageException.class, () -> LogMirror.open(file));
    assertTrue(e.getMessage().contains("mv " + file), e.getMessage());
  }

  @Test
  void damageInsideThePagesIsFoundByTheQuickCheckNotAtOpen() throws Exception {
    var file = dir.resolve("kvraft.db");
    try (var m = LogMirror.open(file)) {
      for (int i = 1; i <= 3000; i++) {
        put(m, i, 1, "key-" + i, "value-" + "x".repeat(200) + i, i);
      }
      m.commit();
    }
    long offset;
    try (var db = DriverManager.getConnection("jdbc:sqlite:" + file); var st = db.createStatement()) {
      st.execute("PRAGMA wal_checkpoint(TRUNCATE)");
      // A leaf page of raft_log's rows in the middle: opening never reads it, the quick check does.
      try (var rs = st.executeQuery("SELECT pageno, (SELECT page_size FROM pragma_page_size) FROM dbstat"
          + " WHERE name = 'raft_log' AND pagetype = 'leaf' ORDER BY pageno")) {
        var pages = new ArrayList<long[]>();
        while (rs.next()) {
          pages.add(new long[] {rs.getLong(1), rs.getLong(2)});
        }
        var page = pages.get(pages.size() / 2);
        offset = (page[0] - 1) * page[1];
      }
    }
    try (var ch = java.nio.channels.FileChannel.open(file, java.nio.file.StandardOpenOption.WRITE)) {
      ch.write(java.nio.ByteBuffer.wrap("broken page ".repeat(300).getBytes()), offset);
    }
    try (var m = LogMirror.open(file)) { // opens: the start-up does not read every page
      var e = assertThrows(StorageException.class, m::quickCheck);
      assertTrue(e.getMessage().contains("quick check") && e.getMessage().contains("mv " + file), e.getMessage());
    }
  }

  @Test
  void aNewerSchemaIsRefused() throws Exception {
    var file = dir.resolve("kvraft.db");
    try (var db = DriverManager.getConnection("jdbc:sqlite:" + file); var st = db.createStatement()) {
      st.execute("PRAGMA user_version = 99");
    }
    var e = assertThrows(StorageException.class, () -> LogMirror.open(file));
    assertTrue(e.getMessage().contains("schema version 99"), e.getMessage());
  }
}
