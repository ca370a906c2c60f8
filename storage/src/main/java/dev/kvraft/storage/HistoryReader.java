package dev.kvraft.storage;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads the changes recorded in {@code kvraft.db} by revision, for watches that start in the past: its own read-only
 * connection, so it never waits for the mirror's writer (WAL mode lets a reader see the last commit while the writer
 * goes on). Each {@link #read} runs in one read transaction: the rows and {@code history_from} it returns belong to
 * one commit.
 *
 * <p>Not thread-safe: one reader per thread (a watch's catch-up opens one for as long as it reads).
 */
public final class HistoryReader implements AutoCloseable {
  /** One change: a put (value, create revision and version set) or a delete (no value) of a key. */
  public record Change(long revision, boolean delete, byte[] key, byte[] value, long createRevision, long version) {}

  /**
   * What one read found. {@code compactedBelow} &gt; 0: the revision asked for is older than this file's history,
   * which starts there (nothing else is set). Otherwise {@code changes} are whole revisions from the one asked for;
   * {@code next} is the revision to read from next time; {@code end}: nothing after {@code next - 1} is recorded yet.
   */
  public record Page(long compactedBelow, List<Change> changes, long next, boolean end) {}

  private final Path file;
  private final Connection db;

  private HistoryReader(Path file, Connection db) {
    this.file = file;
    this.db = db;
  }

  public static HistoryReader open(Path file) throws StorageException {
    try {
      var config = new org.sqlite.SQLiteConfig();
      config.setReadOnly(true);
      config.setBusyTimeout(5000);
      var db = DriverManager.getConnection("jdbc:sqlite:" + file.toAbsolutePath(), config.toProperties());
      db.setAutoCommit(false);
      return new HistoryReader(file, db);
    } catch (SQLException e) {
      throw new StorageException("cannot open " + file + " to read history: " + e.getMessage(), e);
    }
  }

  /**
   * Up to about {@code maxRows} changes and {@code maxBytes} of keys and values from revision {@code from} on, in
   * revision order, never ending inside a revision (a revision larger than that comes whole, alone).
   */
  public Page read(long from, int maxRows, long maxBytes) throws StorageException {
    try {
      try {
        long historyFrom = MirrorSchema.historyFrom(db);
        if (from < historyFrom) {
          return new Page(historyFrom, List.of(), from, false);
        }
        var chunks = chunks();
        var rows = new ArrayList<Change>();
        long[] bytes = {0};
        long[] lastIdx = {0};
        try (var st = db.createStatement()) {
          // The chunks have no index on revision: every row of revision from or later sits at or above this index.
          long start = MirrorSchema.firstEntryReaching(st, from);
          // Where it cannot say (history from before schema 4): by revision through the old chunks' index on it;
          // a chunk without one holds only later rows, all at or above from, in primary-key order.
          boolean legacy = start == MirrorSchema.UNKNOWN;
          var where = (legacy ? "" : "idx >= " + start + " AND ") + "revision >= " + from;
          var indexed = legacy ? MirrorSchema.chunksIndexedByRevision(st) : java.util.Set.<Long>of();
          for (long chunk : chunks) {
            if (start == MirrorSchema.NONE || rows.size() > maxRows || bytes[0] > maxBytes) {
              break;
            }
            read(st, chunk, where, indexed.contains(chunk) ? "revision, idx, seq" : "idx, seq",
                maxRows + 1 - rows.size(), rows, bytes, maxBytes, lastIdx);
          }
        }
        if (rows.size() <= maxRows && bytes[0] <= maxBytes) {
          long max = Math.max(MirrorSchema.maxRevision(db, chunks), from - 1);
          return new Page(0, rows, max + 1, true);
        }
        long last = rows.getLast().revision();
        rows.removeIf(c -> c.revision() == last);
        if (rows.isEmpty()) {
          try (var st = db.createStatement()) {
            for (long chunk : chunks) { // all the rows of a revision belong to one entry: the last row's
              read(st, chunk, "idx = " + lastIdx[0] + " AND revision = " + last, "seq", Integer.MAX_VALUE, rows,
                  new long[1], Long.MAX_VALUE, new long[1]);
            }
          }
          return new Page(0, rows, last + 1, false);
        }
        return new Page(0, rows, last, false);
      } finally {
        db.rollback();
      }
    } catch (SQLException | NumberFormatException e) {
      throw new StorageException("cannot read history from " + file + ": " + e.getMessage(), e);
    }
  }

  /**
   * The key as it was just before revision {@code before}, from the latest change recorded below it: null when that
   * change is a delete or none is recorded (the key did not exist, or its last change is older than the history).
   */
  public Change before(byte[] key, long before) throws StorageException {
    try {
      try {
        var chunks = chunks();
        for (int i = chunks.size() - 1; i >= 0; i--) {
          try (var st = db.prepareStatement("SELECT revision, op, key, value, create_revision, version FROM "
              + MirrorSchema.chunkTable(chunks.get(i)) + " WHERE key = ? AND revision > 0 AND revision < ?"
              + " ORDER BY idx DESC, seq DESC LIMIT 1")) {
            Bytes.bind(st, 1, key);
            st.setLong(2, before);
            try (var rs = st.executeQuery()) {
              if (rs.next()) {
                var c = change(rs);
                return c.delete() ? null : c;
              }
            }
          }
        }
        return null;
      } finally {
        db.rollback();
      }
    } catch (SQLException e) {
      throw new StorageException("cannot read history from " + file + ": " + e.getMessage(), e);
    }
  }

  private List<Long> chunks() throws SQLException {
    return MirrorSchema.chunkList(db);
  }

  /**
   * Reads rows into {@code into} in {@code order} (primary-key order is revision order), adding their bytes to
   * {@code bytes[0]} and leaving the last row's index in {@code lastIdx[0]}; stops once past {@code maxBytes}.
   */
  private static void read(java.sql.Statement st, long chunk, String where, String order, int limit,
      List<Change> into, long[] bytes, long maxBytes, long[] lastIdx) throws SQLException {
    try (var rs = st.executeQuery("SELECT revision, op, key, value,"
        + " create_revision, version, idx FROM " + MirrorSchema.chunkTable(chunk) + " WHERE " + where
        + " AND revision > 0"
        + " ORDER BY " + order + " LIMIT " + limit)) {
      while (bytes[0] <= maxBytes && rs.next()) {
        var c = change(rs);
        into.add(c);
        lastIdx[0] = rs.getLong(7);
        bytes[0] += c.key().length + (c.value() == null ? 0 : c.value().length);
      }
    }
  }

  private static Change change(java.sql.ResultSet rs) throws SQLException {
    boolean delete = !"put".equals(rs.getString(2));
    return new Change(rs.getLong(1), delete, Bytes.read(rs, 3), delete ? null : Bytes.read(rs, 4),
        rs.getLong(5), rs.getLong(6));
  }

  @Override
  public void close() {
    try {
      db.close();
    } catch (SQLException ignored) {
      // read-only: nothing to lose
    }
  }
}
