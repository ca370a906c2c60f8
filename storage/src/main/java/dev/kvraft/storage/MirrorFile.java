package dev.kvraft.storage;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code kvraft.db} as a file: the bytes its pages take, giving free pages back to the file system, and the reads
 * over the rows written to it ({@code raft_log}'s lowest index, the last entry applied before a time, a key's
 * history): committed, or in the connection's open transaction; rows LogMirror still buffers are not in
 * them. No state of its own: it works on the connection {@link LogMirror} owns, on LogMirror's thread, and
 * LogMirror commits what it buffered first where a method must see it ({@link LogMirror#reclaim},
 * {@link LogMirror#lastIndexAppliedBefore}).
 */
final class MirrorFile {
  private final Path file;
  private final Connection db;

  MirrorFile(Path file, Connection db) {
    this.file = file;
    this.db = db;
  }

  /** Bytes the rows take: the file's pages less the free ones. */
  long liveBytes() throws StorageException {
    return (pragma("page_count") - pragma("freelist_count")) * pragma("page_size");
  }

  /** The file's size in pages times the page size. */
  long fileBytes() throws StorageException {
    return pragma("page_count") * pragma("page_size");
  }

  /** Free pages {@link #reclaim} can give back: none in a file made before kvraft set {@code auto_vacuum}. */
  long freePages() throws StorageException {
    return pragma("auto_vacuum") == 2 ? pragma("freelist_count") : 0;
  }

  /**
   * Gives up to {@code maxPages} free pages back to the file system, in one short transaction; returns how many.
   * The caller must have committed: this runs its own transaction.
   */
  long reclaim(int maxPages) throws StorageException {
    long steps = Math.min(maxPages, freePages());
    if (steps <= 0) {
      return 0;
    }
    long before = pragma("page_count");
    try {
      // The JDBC driver runs the pragma one step, one page, per call: free them in one transaction.
      db.setAutoCommit(false);
      try {
        for (long i = 0; i < steps; i++) {
          try (var st = db.createStatement()) {
            st.execute("PRAGMA incremental_vacuum(1)");
          }
        }
        db.commit();
      } finally {
        db.setAutoCommit(true);
      }
    } catch (SQLException e) {
      throw new StorageException("cannot reclaim free pages of " + file + ": " + e.getMessage(), e);
    }
    return before - pragma("page_count");
  }

  /** The highest index applied before {@code cutoff} (by {@code applied_at}), or -1. */
  long lastIndexAppliedBefore(Instant cutoff) throws StorageException {
    try (var st = db.prepareStatement("SELECT coalesce(max(idx), -1) FROM raft_log WHERE applied_at < ?")) {
      st.setString(1, LogMirror.APPLIED_AT.format(cutoff));
      try (var rs = st.executeQuery()) {
        return rs.getLong(1);
      }
    } catch (SQLException e) {
      throw new StorageException("cannot read " + file + ": " + e.getMessage(), e);
    }
  }

  /** The lowest index recorded, or -1. */
  long minIndex() throws StorageException {
    try (var st = db.createStatement(); var rs = st.executeQuery("SELECT coalesce(min(idx), -1) FROM raft_log")) {
      return rs.getLong(1);
    } catch (SQLException e) {
      throw new StorageException("cannot read " + file + ": " + e.getMessage(), e);
    }
  }

  /** A key's history in log order. */
  List<LogMirror.KeyEvent> history(byte[] key) throws StorageException {
    try (var st = db.prepareStatement("SELECT idx, term, seq, op, value, revision, result FROM key_history"
        + " WHERE key = ? ORDER BY idx, seq")) {
      Bytes.bind(st, 1, key);
      var list = new ArrayList<LogMirror.KeyEvent>();
      try (var rs = st.executeQuery()) {
        while (rs.next()) {
          list.add(new LogMirror.KeyEvent(rs.getLong(1), rs.getLong(2), rs.getInt(3), rs.getString(4),
              Bytes.read(rs, 5), rs.getLong(6), rs.getString(7)));
        }
      }
      return list;
    } catch (SQLException e) {
      throw new StorageException("cannot read " + file + ": " + e.getMessage(), e);
    }
  }

  private long pragma(String name) throws StorageException {
    try (var st = db.createStatement(); var rs = st.executeQuery("PRAGMA " + name)) {
      return rs.next() ? rs.getLong(1) : 0;
    } catch (SQLException e) {
      throw new StorageException("cannot read PRAGMA " + name + " of " + file + ": " + e.getMessage(), e);
    }
  }
}
