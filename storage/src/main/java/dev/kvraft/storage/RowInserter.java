package dev.kvraft.storage;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Inserts rows with multi-row INSERTs, up to {@value #ROWS} rows per statement: through JDBC the per-row cost of
 * SQLite is mostly the JNI call, not the insert. One statement is prepared per row count and kept until
 * {@link #close}; its parameters are cleared after each execute so it never pins a batch's values. Not thread-safe: used by the thread that owns the connection.
 *
 * @param <T> one row
 */
final class RowInserter<T> implements AutoCloseable {
  static final int ROWS = 100;

  /** Binds one row's values from {@code column} on; returns the next free column. */
  @FunctionalInterface
  interface Binder<T> {
    int bind(PreparedStatement st, int column, T row) throws SQLException;
  }

  private final Connection db;
  private final String head;
  private final String placeholders;
  private final Binder<T> binder;
  private final Map<Integer, PreparedStatement> statements = new HashMap<>();

  /**
   * @param head e.g. {@code INSERT INTO kv VALUES }
   * @param placeholders one row's, e.g. {@code (?, ?, ?)}
   */
  RowInserter(Connection db, String head, String placeholders, Binder<T> binder) {
    this.db = db;
    this.head = head;
    this.placeholders = placeholders;
    this.binder = binder;
  }

  /** Inserts every row, in order. */
  void insert(List<T> rows) throws SQLException {
    for (int from = 0; from < rows.size(); from += ROWS) {
      int n = Math.min(ROWS, rows.size() - from);
      var st = statements.get(n);
      if (st == null) {
        st = db.prepareStatement(head + String.join(", ", Collections.nCopies(n, placeholders)));
        statements.put(n, st);
      }
      int column = 1;
      for (var row : rows.subList(from, from + n)) {
        column = binder.bind(st, column, row);
      }
      try {
        st.executeUpdate();
      } catch (SQLException e) {
        // The driver finalizes a statement that failed with anything but BUSY, LOCKED, MISUSE or CONSTRAINT (a full
        // disk: SQLITE_FULL): drop it, so the next insert prepares a new one, and let nothing hide this error.
        statements.remove(n);
        try {
          st.close();
        } catch (SQLException again) {
          e.addSuppressed(again);
        }
        throw e;
      }
      st.clearParameters(); // the cached statement must not pin the last batch's values (issue #15)
    }
  }

  @Override
  public void close() throws SQLException {
    for (var st : statements.values()) {
      st.close();
    }
    statements.clear();
  }
}
