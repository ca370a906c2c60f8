package dev.kvraft.storage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.DriverManager;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class RowInserterTest {

  @ParameterizedTest(name = "{0} rows")
  @ValueSource(ints = {0, 1, 99, 100, 101, 250})
  void everyRowGoesInOnceAndInOrderWhateverTheCount(int count) throws Exception {
    try (var db = DriverManager.getConnection("jdbc:sqlite::memory:"); var st = db.createStatement()) {
      st.execute("CREATE TABLE t (seq INTEGER PRIMARY KEY AUTOINCREMENT, n INTEGER, square INTEGER)");
      var rows = LongStream.range(0, count).boxed().toList();
      try (var inserter = new RowInserter<Long>(db, "INSERT INTO t(n, square) VALUES ", "(?, ?)", (ps, c, n) -> {
        ps.setLong(c++, n);
        ps.setLong(c++, n * n);
        return c;
      })) {
        inserter.insert(rows);
        inserter.insert(List.of());
      }
      var read = new ArrayList<Long>();
      try (var rs = st.executeQuery("SELECT n, square FROM t ORDER BY seq")) {
        while (rs.next()) {
          assertEquals(rs.getLong(1) * rs.getLong(1), rs.getLong(2));
          read.add(rs.getLong(1));
        }
      }
      assertEquals(rows, read);
    }
  }

  /**
   * A full disk (here SQLite's page limit, which fails the same way: SQLITE_FULL) must be reported as such, and the
   * inserter must work again once there is room. The driver finalizes a statement that failed so; clearing its
   * parameters afterwards threw "statement is not executing", which replaced the real error (the mirror's and a
   * snapshot's log line named no full disk), and the dead statement stayed cached for every later insert.
   */
  @Test
  void aFullDiskIsReportedAsSuchAndTheInserterWorksOnceThereIsRoom() throws Exception {
    try (var db = DriverManager.getConnection("jdbc:sqlite::memory:"); var st = db.createStatement()) {
      st.execute("CREATE TABLE t (n INTEGER PRIMARY KEY, pad BLOB)");
      long pages;
      try (var rs = st.executeQuery("PRAGMA page_count")) {
        pages = rs.getLong(1);
      }
      st.execute("PRAGMA max_page_count = " + pages);
      try (var inserter = new RowInserter<Long>(db, "INSERT INTO t(n, pad) VALUES ", "(?, ?)", (ps, c, n) -> {
        ps.setLong(c++, n);
        ps.setBytes(c++, new byte[10_000]);
        return c;
      })) {
        var full = assertThrows(SQLException.class, () -> inserter.insert(List.of(1L)));
        assertTrue(full.getMessage().contains("SQLITE_FULL"), full.getMessage());
        st.execute("PRAGMA max_page_count = 1000000");
        inserter.insert(List.of(1L));
      }
      try (var rs = st.executeQuery("SELECT count(*) FROM t")) {
        assertEquals(1, rs.getLong(1));
      }
    }
  }
}
