package dev.kvraft.storage;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.sql.DriverManager;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.LongStream;
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
}
