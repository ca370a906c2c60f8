package dev.kvraft.storage;

import static dev.kvraft.storage.MirrorSchema.chunkTable;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;

/**
 * The operation rows of {@code kvraft.db}: the chunk tables behind the view {@code raft_log_ops} (why chunks:
 * {@link LogMirror}), and the range of revisions they record. Rows are buffered by {@link #add} and written by
 * {@link #write}, which seals the open chunk first when it is full.
 *
 * <p>Owns, for its {@link LogMirror} and on that mirror's one thread ({@code kvraft-mirror} in the server): the chunk
 * list, the open chunk's row count and inserter, the rows buffered since the last commit, {@code maxRevision}, and
 * {@code historyFrom} with its copy in {@code meta}. It writes only inside the transaction the mirror has begun,
 * and never begins or commits one.
 */
final class OpChunks {
  record OpRow(long idx, int seq, String op, byte[] key, byte[] value, long revision, String result,
      long createRevision, long version) {}

  private final ArrayList<OpRow> opRows = new ArrayList<>();

  private final Connection db;
  private final int chunkRows;
  private final int maxChunks;
  /** Into the open chunk; replaced when it is sealed. */
  private RowInserter<OpRow> opInserter;
  /** First index of every chunk, ascending; the last is the open chunk. */
  private final List<Long> chunks = new ArrayList<>();
  private long openRows;
  /** The highest revision recorded, and the lowest from which every change is recorded (meta history_from). */
  private long maxRevision;
  private long historyFrom;

  /** Reads the chunks, the open chunk's row count and the revision range from the file. */
  OpChunks(Connection db, int chunkRows, int maxChunks) throws SQLException {
    this.db = db;
    this.chunkRows = chunkRows;
    this.maxChunks = maxChunks;
    chunks.addAll(MirrorSchema.chunkList(db));
    try (var st = db.createStatement();
         var rs = st.executeQuery("SELECT count(*) FROM " + chunkTable(chunks.getLast()))) {
      openRows = rs.getLong(1);
    }
    historyFrom = MirrorSchema.historyFrom(db);
    // A snapshot installed over a gap left no row at its revision: history_from says how far the store was.
    maxRevision = Math.max(MirrorSchema.maxRevision(db, chunks), historyFrom - 1);
    opInserter = opInserter(db, chunks.getLast());
  }

  private static RowInserter<OpRow> opInserter(Connection db, long chunk) {
    return new RowInserter<>(db, "INSERT INTO " + chunkTable(chunk) + "(" + MirrorSchema.OP_COLUMNS + ") VALUES ",
        "(?, ?, ?, ?, ?, ?, ?, ?, ?)", OpChunks::bindOp);
  }

  private static int bindOp(PreparedStatement st, int c, OpRow r) throws SQLException {
    st.setLong(c++, r.idx());
    st.setInt(c++, r.seq());
    st.setString(c++, r.op());
    Bytes.bind(st, c++, r.key());
    Bytes.bind(st, c++, r.value());
    st.setLong(c++, r.revision());
    st.setString(c++, r.result());
    if (r.createRevision() > 0) {
      st.setLong(c++, r.createRevision());
      st.setLong(c++, r.version());
    } else {
      st.setNull(c++, java.sql.Types.INTEGER);
      st.setNull(c++, java.sql.Types.INTEGER);
    }
    return c;
  }

  /** The lowest revision from which every change is recorded here. */
  long historyFrom() {
    return historyFrom;
  }

  /** The highest revision recorded (written or only buffered). */
  long maxRevision() {
    return maxRevision;
  }

  /** Buffers one row until {@link #write}. */
  void add(OpRow row) {
    opRows.add(row);
    maxRevision = Math.max(maxRevision, row.revision());
  }

  /** Drops the buffered rows (their transaction failed and was rolled back). */
  void discard() {
    opRows.clear();
  }

  /**
   * Writes the buffered rows into the open chunk, sealing it first when it holds {@code chunkRows} or more and the
   * rows start above its first index.
   */
  void write() throws SQLException {
    if (opRows.isEmpty()) {
      return;
    }
    // Rows at or below the open chunk's first index go into it even when it is full: a new chunk named after their
    // index would sort before the open one (or clash with its name), while everything that reads the chunk list takes
    // its sorted order for creation order. Since schema 4 no rows come so (a replaced log starts the file again in a
    // new chunk), but a file written before may hold such rows below a chunk's name. The next rows above the open
    // chunk's first index seal it.
    if (openRows >= chunkRows && opRows.getFirst().idx() > chunks.getLast()) {
      seal(opRows.getFirst().idx());
    }
    opInserter.insert(opRows);
    openRows += opRows.size();
    opRows.clear();
  }

  /**
   * Seals the open chunk (builds its key index) and opens a new one starting at {@code first}; inside the current
   * transaction. Beyond {@code maxChunks} the oldest chunks go, with their entries: every entry below the first chunk
   * kept, and its rows in the chunks kept too (rows of a replaced entry can sit in a later chunk, below its name).
   * Without them, key_history (a join with raft_log) hid those rows while HistoryReader still gave them to watches.
   */
  private void seal(long first) throws SQLException {
    long open = chunks.getLast();
    try (var st = db.createStatement()) {
      st.execute("CREATE INDEX " + chunkTable(open) + "_by_key ON " + chunkTable(open) + "(key, idx)");
      st.execute(MirrorSchema.createChunk(first));
      chunks.add(first);
      while (chunks.size() > maxChunks) {
        long oldest = chunks.removeFirst();
        raiseHistoryFrom(MirrorSchema.revisionAtOrBelow(st, oldest, Long.MAX_VALUE) + 1);
        st.execute("DROP TABLE " + chunkTable(oldest));
        long below = chunks.getFirst();
        // Two primary-key seeks per chunk kept, once per chunk dropped (every chunkRows rows or more); all they find
        // are the rare replaced rows.
        for (long kept : chunks) {
          trim(st, kept, below - 1);
        }
        st.execute("DELETE FROM raft_log WHERE idx < " + below);
      }
      MirrorSchema.createViews(st, chunks);
    }
    openRows = 0;
    opInserter.close();
    opInserter = opInserter(db, first);
  }

  /** The entry being recorded installed a snapshot at store revision {@code revision}, above every row here. */
  void installed(long revision) throws SQLException {
    maxRevision = Math.max(maxRevision, revision);
    raiseHistoryFrom(revision + 1);
  }

  /**
   * Deletes the rows with {@code idx <= upTo}, raising history_from above them. Chunks wholly below go with
   * {@code DROP TABLE}, which costs nothing per row; the open chunk is never dropped.
   */
  void prune(Statement st, long upTo) throws SQLException {
    boolean dropped = false;
    long open = chunks.getLast();
    for (var it = chunks.iterator(); it.hasNext(); ) {
      long first = it.next();
      var table = chunkTable(first);
      long max;
      try (var rs = st.executeQuery("SELECT coalesce(max(idx), -1) FROM " + table)) {
        max = rs.getLong(1);
      }
      if (first != open && max <= upTo) {
        raiseHistoryFrom(MirrorSchema.revisionAtOrBelow(st, first, upTo) + 1);
        st.execute("DROP TABLE " + table);
        it.remove();
        dropped = true;
      } else {
        trim(st, first, upTo);
      }
    }
    if (dropped) {
      MirrorSchema.createViews(st, chunks);
    }
  }

  /**
   * Drops every row of a revision before {@code revision} (rows that changed nothing, revision 0, stay with their
   * entries) and records the compact revision in {@code meta}; returns how many rows went.
   */
  int compact(long revision) throws SQLException {
    int n = 0;
    try (var st = db.createStatement()) {
      // Primary-key ranges, as the chunks have no index on revision: from where the last compaction's revision began
      // (every change below it is gone) to the entry that reached this one (it may hold changes on both sides).
      long previous = MirrorSchema.compactRevision(st);
      long from = previous > 0 ? MirrorSchema.firstEntryReaching(st, previous) : MirrorSchema.UNKNOWN;
      long upTo = MirrorSchema.firstEntryReaching(st, revision);
      var range = (from == MirrorSchema.UNKNOWN || from == MirrorSchema.NONE ? "" : "idx >= " + from + " AND ")
          + (upTo == MirrorSchema.UNKNOWN || upTo == MirrorSchema.NONE ? "" : "idx <= " + upTo + " AND ");
      for (long first : chunks) {
        n += st.executeUpdate("DELETE FROM " + chunkTable(first) + " WHERE " + range + "revision > 0 AND revision < "
            + revision);
      }
      st.executeUpdate("INSERT OR REPLACE INTO meta VALUES ('compact_revision', '" + revision + "')");
    }
    raiseHistoryFrom(revision);
    return n;
  }

  /**
   * Drops every row, buffered or written, and every chunk, opens a new chunk from {@code idx}, and makes history start
   * after {@code revisionBefore}, the store's revision before that entry (see {@code LogMirror.startAgain}); the
   * compact revision recorded goes too. The caller deletes the raft_log rows.
   */
  void startAgain(long idx, long revisionBefore) throws SQLException {
    opRows.clear();
    try (var st = db.createStatement()) {
      for (long first : chunks) {
        st.execute("DROP TABLE " + chunkTable(first));
      }
      chunks.clear();
      st.execute(MirrorSchema.createChunk(idx));
      chunks.add(idx);
      MirrorSchema.createViews(st, chunks);
      st.executeUpdate("DELETE FROM meta WHERE key = 'compact_revision'");
    }
    openRows = 0;
    opInserter.close();
    opInserter = opInserter(db, idx);
    startHistoryAfter(revisionBefore);
  }

  /** Sets where history starts, after {@code revision}, lower or higher than before: the file just started again. */
  void startHistoryAfter(long revision) throws SQLException {
    maxRevision = revision;
    setHistoryFrom(revision + 1);
  }

  /** Deletes the rows of {@code chunk} with {@code idx <= upTo} (a primary-key range), raising history_from above. */
  private void trim(Statement st, long chunk, long upTo) throws SQLException {
    raiseHistoryFrom(MirrorSchema.revisionAtOrBelow(st, chunk, upTo) + 1);
    st.executeUpdate("DELETE FROM " + chunkTable(chunk) + " WHERE idx <= " + upTo);
  }

  /** Raises history_from (inside the caller's transaction). */
  private void raiseHistoryFrom(long revision) throws SQLException {
    if (revision > historyFrom) {
      setHistoryFrom(revision);
    }
  }

  /** Sets history_from, here and in {@code meta} (inside the caller's transaction). */
  private void setHistoryFrom(long revision) throws SQLException {
    historyFrom = revision;
    try (var st = db.createStatement()) {
      st.executeUpdate("INSERT OR REPLACE INTO meta VALUES ('history_from', '" + revision + "')");
    }
  }
}
