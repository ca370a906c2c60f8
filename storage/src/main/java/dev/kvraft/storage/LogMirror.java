package dev.kvraft.storage;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code kvraft.db}: the committed Raft log as SQLite tables, written in apply order, so an operator can answer
 * "what happened to key X, in which term, at which index" with the {@code sqlite3} tool while the node runs.
 *
 * <p>Schema (version {@value #SCHEMA_VERSION}; see storage/README.md): {@code raft_log} (one row per entry),
 * {@code raft_log_ops} (one row per operation), the view {@code key_history} joining them, and {@code meta}.
 *
 * <p>{@code raft_log_ops} is a view over <em>chunks</em>, tables {@code raft_log_ops_from_<idx>} named after the
 * first index they hold. Rows go into the newest chunk, which has no index on {@code key}: appends in index order
 * dirty only the last pages. When it holds {@value #CHUNK_ROWS} rows it is <em>sealed</em> (its key index built
 * in one sorted pass) and a new chunk starts. A key index maintained row by row dirtied one random page per
 * operation, and writing those pages was most of the mirror's cost (BENCHMARKS.md). A query on {@code key} uses
 * each sealed chunk's index and scans only the newest chunk. Pruning drops whole chunks.
 *
 * <p>Idempotent: an entry whose index is already recorded with the same term is skipped (entries after the last
 * snapshot are applied again on every restart), and so is one at or below the highest index recorded that is no
 * longer there (pruning took it; it is not brought back). One recorded with another term (a data directory whose
 * Ratis log was replaced) starts the file again from it. Writes are grouped into one transaction per
 * {@link #commit()}, which the server calls at most every 200 ms. WAL mode with {@code synchronous=NORMAL}: Ratis's
 * own log is the durable copy.
 *
 * <p>Rows are buffered by {@link #entry} and {@link #op} and written by {@link #commit} with multi-row INSERTs
 * ({@link RowInserter}: one JNI call for up to {@value RowInserter#ROWS} rows): the per-row cost of SQLite through
 * JDBC is mostly the call, not the insert.
 *
 * <p>Not thread-safe: owned by one thread (the mirror writer, {@code kvraft-mirror} in the server), which alone calls
 * it and, through it, the pieces it delegates to. LogMirror coordinates: it owns the connection and its
 * transactions, the {@code raft_log} rows (the buffered entries and their revisions, {@code maxIndex}, whether the
 * current entry is skipped; the chunk cap in {@link OpChunks} deletes those below the chunks it keeps).
 * {@link MirrorFile} works on the file's pages ({@link #liveBytes}, {@link #reclaim}) and reads the rows written
 * ({@link #minIndex}, {@link #history}), after this class committed where it must. {@link OpChunks} owns the
 * operation rows: their chunks, the open chunk's inserter and the revision range ({@code maxRevision},
 * {@code historyFrom}).
 * {@link MirrorSchema}, which has no state, creates, migrates and checks the file.
 */
public final class LogMirror implements AutoCloseable {
  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(LogMirror.class);
  public static final int SCHEMA_VERSION = MirrorSchema.VERSION;
  /** Rows in a chunk before it is sealed. */
  static final int CHUNK_ROWS = 250_000;
  /**
   * At most this many chunks (100 million operations) are kept, whatever {@code log.retention} says: SQLite
   * allows 500 terms in the view's compound SELECT.
   */
  static final int MAX_CHUNKS = 400;

  /**
   * {@code applied_at}'s text: always with milliseconds, so the texts sort as the times do. {@link Instant#toString}
   * leaves them out at a whole second ({@code 12:00:06Z}), which sorts after {@code 12:00:06.500Z}.
   */
  static final DateTimeFormatter APPLIED_AT = DateTimeFormatter.ofPattern("uuuu-MM-dd'T'HH:mm:ss.SSS'Z'")
      .withZone(ZoneOffset.UTC);

  /** One {@code raft_log} row; its revision (the store's once the entry applied) is set when its ops are in. */
  private record EntryRow(long idx, long term, String kind, String proposer, int opCount, String summary,
      String appliedAt, byte[] payload, long revision) {
    EntryRow withRevision(long revision) {
      return new EntryRow(idx, term, kind, proposer, opCount, summary, appliedAt, payload, revision);
    }
  }

  private final ArrayList<EntryRow> entryRows = new ArrayList<>();

  private final Path file;
  private final Connection db;
  private final PreparedStatement termAt;
  private final RowInserter<EntryRow> entryInserter;
  /** The operation rows: written in {@link #commit} after the entries. */
  private final OpChunks ops;
  /** The file's pages and the reads over what was committed. */
  private final MirrorFile pages;
  private long maxIndex;
  private boolean inTransaction;
  private boolean skipping;
  /**
   * The store's revision as the calls tell it, entries skipped or not: it starts at 0, as the store does, a snapshot
   * installed sets it (the server reports every snapshot it starts from), each operation raises it. Where history
   * starts again when the file does ({@link #startAgain}).
   */
  private long storeRevision;
  /** The entry being recorded started the file again: a snapshot it installs sets where history starts. */
  private boolean startedAgain;
  /** Why a write failed, after which nothing more is written: the bookkeeping above no longer matches the file. */
  private String failed;

  private LogMirror(Path file, Connection db, int chunkRows, int maxChunks) throws SQLException {
    this.file = file;
    this.db = db;
    termAt = db.prepareStatement("SELECT term FROM raft_log WHERE idx = ?");
    try (var st = db.createStatement(); var rs = st.executeQuery("SELECT coalesce(max(idx), -1) FROM raft_log")) {
      maxIndex = rs.getLong(1);
    }
    ops = new OpChunks(db, chunkRows, maxChunks);
    pages = new MirrorFile(file, db);
    entryInserter = new RowInserter<>(db, "INSERT INTO raft_log(idx, term, kind, proposer, op_count, summary,"
        + " applied_at, payload, revision) VALUES ", "(?, ?, ?, ?, ?, ?, ?, ?, ?)", LogMirror::bindEntry);
  }

  private static int bindEntry(PreparedStatement st, int c, EntryRow r) throws SQLException {
    st.setLong(c++, r.idx());
    st.setLong(c++, r.term());
    st.setString(c++, r.kind());
    st.setString(c++, r.proposer());
    st.setInt(c++, r.opCount());
    st.setString(c++, r.summary());
    st.setString(c++, r.appliedAt());
    st.setBytes(c++, r.payload());
    st.setLong(c++, r.revision());
    return c;
  }

  /**
   * Opens (creating or migrating) {@code kvraft.db}. A file that is not a SQLite database or has a newer schema than
   * this kvraft knows is refused with a message saying what to do. Damage inside its pages is found later, by
   * {@link #quickCheck()}: reading a gigabyte of pages at start-up cost a restarting node most of a second.
   */
  public static LogMirror open(Path file) throws StorageException {
    return open(file, CHUNK_ROWS, MAX_CHUNKS);
  }

  /** {@link #open(Path)} with other chunk limits, for tests. */
  static LogMirror open(Path file, int chunkRows, int maxChunks) throws StorageException {
    if (chunkRows < 1 || maxChunks < 1) {
      throw new IllegalArgumentException("chunkRows and maxChunks must be positive, got " + chunkRows + " and "
          + maxChunks);
    }
    try {
      Files.createDirectories(file.toAbsolutePath().getParent());
    } catch (java.io.IOException e) {
      throw new StorageException("cannot create the directory of " + file + ": " + e.getMessage(), e);
    }
    Connection db = null;
    try {
      db = DriverManager.getConnection("jdbc:sqlite:" + file.toAbsolutePath());
      try (var st = db.createStatement()) {
        st.execute("PRAGMA busy_timeout = 5000");
        boolean empty;
        try (var rs = st.executeQuery("SELECT count(*) FROM sqlite_master")) {
          empty = rs.getLong(1) == 0;
        }
        if (empty) {
          // Only a new file can take it: pages freed by pruning can then be given back to the file system.
          st.execute("PRAGMA auto_vacuum = INCREMENTAL");
        }
        st.execute("PRAGMA journal_mode = WAL");
        st.execute("PRAGMA synchronous = NORMAL");
      }
      MirrorSchema.migrate(db, file);
      db.setAutoCommit(true);
      return new LogMirror(file, db, chunkRows, maxChunks);
    } catch (SQLException e) {
      closeQuietly(db);
      throw new StorageException(MirrorSchema.corrupt(file, e.getMessage()), e);
    } catch (StorageException e) {
      closeQuietly(db);
      throw e;
    }
  }

  /**
   * SQLite's quick check of every page (a second or so per gigabyte); throws, saying what to do, when it finds
   * damage.
   */
  public void quickCheck() throws StorageException {
    MirrorSchema.quickCheck(db, file);
  }

  /** The connection, for tests that fill the disk ({@code PRAGMA max_page_count}). Mirror's thread only. */
  Connection connection() {
    return db;
  }

  public Path file() {
    return file;
  }

  /** The highest index recorded, or -1. */
  public long maxIndex() {
    return maxIndex;
  }

  /**
   * Records one applied entry; its operations follow through {@link #op}. Skipped (with its ops) when the same
   * index is already recorded with the same term, or was recorded and pruned since (it is at or below the highest
   * index recorded); recorded with another term, the file starts again from it (every entry and row goes first).
   */
  public void entry(long idx, long term, EntryKind kind, String proposer, int opCount, String summary, byte[] payload)
      throws StorageException {
    usable();
    try {
      begin();
      closeEntry();
      skipping = false;
      startedAgain = false;
      if (idx <= maxIndex) {
        termAt.setLong(1, idx);
        long recordedTerm;
        try (var rs = termAt.executeQuery()) {
          recordedTerm = rs.next() ? rs.getLong(1) : -1;
        }
        if (recordedTerm < 0 || recordedTerm == term) {
          // Recorded already, or pruned since (by bytes or age, above the snapshot too): not brought back, so every
          // revision along the indexes is the one its entry made.
          skipping = true;
          return;
        }
        startAgain(idx);
      }
      entryRows.add(new EntryRow(idx, term, kind.sql(), proposer == null || proposer.isEmpty() ? null : proposer, opCount,
          summary, APPLIED_AT.format(Instant.now()),
          payload == null || payload.length == 0 ? null : payload, 0));
      maxIndex = Math.max(maxIndex, idx);
    } catch (SQLException e) {
      throw abandon("cannot record log entry " + idx + " in " + file, e);
    }
  }

  /**
   * Another term at an index recorded: the Raft log was replaced (a data directory's Ratis log swapped). By Raft's log
   * matching the entries recorded from there on belonged to the old log, and those below it may have too (the ones
   * pruned, or below the snapshot, were never compared). So the file starts again from this entry: every entry and
   * row goes, buffered or written, and history starts at the revision after the store's before it (what the replay's
   * snapshot and operations told, skipped entries' too), in this transaction. A watch from before is told history
   * starts there; the new log's entries are recorded as they apply. (Until schema 4 only the one entry was replaced,
   * and the old entries' revisions stayed around the new ones.)
   */
  private void startAgain(long idx) throws SQLException {
    LOG.warn("{}: entry {} came with another term than recorded, so the Raft log was replaced; this copy starts again"
        + " from it, with history from revision {}", file, idx, storeRevision + 1);
    entryRows.clear();
    try (var st = db.createStatement()) {
      st.executeUpdate("DELETE FROM raft_log");
    }
    ops.startAgain(idx, storeRevision);
    maxIndex = -1;
    startedAgain = true;
  }

  /** Sets the revision of the entry buffered last: the store's once its ops (or a snapshot it installed) are in. */
  private void closeEntry() {
    if (!skipping && !entryRows.isEmpty()) {
      entryRows.set(entryRows.size() - 1, entryRows.getLast().withRevision(ops.maxRevision()));
    }
  }

  /** Records one operation of the entry last passed to {@link #entry}. */
  public void op(long idx, int seq, OpKind op, byte[] key, byte[] value, long revision, OpOutcome result)
      throws StorageException {
    op(idx, seq, op, key, value, revision, result, 0, 0);
  }

  /** Records one operation; a put also records its key's create revision and version after it (0: unknown). */
  public void op(long idx, int seq, OpKind op, byte[] key, byte[] value, long revision, OpOutcome result,
      long createRevision, long version) throws StorageException {
    usable();
    storeRevision = Math.max(storeRevision, revision);
    if (skipping) {
      return;
    }
    if (entryRows.isEmpty() || entryRows.getLast().idx() != idx) {
      // Its entry's revision (raft_log.revision) is set from its rows as the next entry begins or at commit.
      throw abandon("cannot record operation " + seq + " of entry " + idx + " in " + file, new SQLException(
          "it came outside its entry (the entry open is " + (entryRows.isEmpty() ? "none" : entryRows.getLast().idx())
          + ")"));
    }
    ops.add(new OpChunks.OpRow(idx, seq, op.sql(), key, value, revision, result.sql(), createRevision, version));
  }

  /**
   * The entry last passed to {@link #entry} installed a snapshot at store revision {@code revision}: when this file
   * holds no change up to it (a lagging node got the leader's snapshot), the changes in between are missing, and
   * history here starts after it.
   */
  public void installed(long revision) throws StorageException {
    usable();
    storeRevision = revision;
    if (startedAgain) { // the snapshot the new log's replay began with: history starts after it
      try {
        ops.startHistoryAfter(revision);
      } catch (SQLException e) {
        throw abandon("cannot record a snapshot install in " + file, e);
      }
      return;
    }
    if (skipping || revision <= ops.maxRevision()) {
      return;
    }
    try {
      begin();
      ops.installed(revision);
    } catch (SQLException e) {
      throw abandon("cannot record a snapshot install in " + file, e);
    }
  }

  /** The lowest revision from which every change is recorded here (watches cannot start before it). */
  public long historyFrom() {
    return ops.historyFrom();
  }

  /** The highest revision recorded (committed or not). */
  public long maxRevision() {
    return ops.maxRevision();
  }

  /** Commits what was recorded since the last commit. */
  public void commit() throws StorageException {
    usable();
    if (!inTransaction) {
      return;
    }
    try {
      writeEntries();
      ops.write();
      db.commit();
      db.setAutoCommit(true);
      inTransaction = false;
    } catch (SQLException e) {
      throw abandon("cannot commit to " + file, e);
    }
  }

  /**
   * A write failed (a full disk, say): rolls back what this transaction wrote, drops what was buffered for it, and
   * refuses every later write. Committing the rest later, as {@link #close} did, wrote a partial batch: when a
   * single-row insert fails with SQLITE_FULL, SQLite rolls the whole transaction back, so the entries written
   * before it were gone while their buffered operations went in alone, and their replay at the next start then
   * failed on those rows' primary key. The entries are recorded again when Ratis replays them after a restart.
   */
  private StorageException abandon(String what, SQLException e) {
    failed = what + ": " + e.getMessage();
    entryRows.clear();
    ops.discard();
    try {
      db.rollback(); // fails harmlessly when SQLite has rolled back already
    } catch (SQLException again) {
      e.addSuppressed(again);
    }
    try {
      db.setAutoCommit(true);
    } catch (SQLException again) {
      e.addSuppressed(again);
    }
    inTransaction = false;
    return new StorageException(failed, e);
  }

  private void usable() throws StorageException {
    if (failed != null) {
      throw new StorageException(file + " takes no more writes after a failed one (" + failed
          + "); reopen it to go on");
    }
  }

  private void writeEntries() throws SQLException {
    closeEntry();
    entryInserter.insert(entryRows);
    entryRows.clear();
  }

  private void begin() throws SQLException {
    if (!inTransaction) {
      db.setAutoCommit(false);
      inTransaction = true;
    }
  }

  /**
   * Deletes the log rows with {@code idx <= upTo}; returns how many entries went. Chunks wholly below go with
   * {@code DROP TABLE}, which costs nothing per row; the open chunk is never dropped.
   */
  public int prune(long upTo) throws StorageException {
    commit();
    try {
      db.setAutoCommit(false);
      int n;
      try (var st = db.createStatement()) {
        ops.prune(st, upTo);
        n = st.executeUpdate("DELETE FROM raft_log WHERE idx <= " + upTo);
      }
      db.commit();
      db.setAutoCommit(true);
      return n;
    } catch (SQLException e) {
      throw abandon("cannot prune " + file + " up to index " + upTo, e);
    }
  }

  /** Bytes the rows take: the file's pages less the free ones (what pruning lowers at once). */
  public long liveBytes() throws StorageException {
    return pages.liveBytes();
  }

  /** The file's size in pages times the page size (what {@link #reclaim} lowers). */
  public long fileBytes() throws StorageException {
    return pages.fileBytes();
  }

  /**
   * Commits what is buffered, then gives up to {@code maxPages} free pages back to the file system in one short
   * transaction; returns how many the vacuum gave back (free pages the commit used count for nothing). A file made
   * before kvraft set {@code auto_vacuum} cannot (0): {@code VACUUM} it offline to shrink it.
   */
  public long reclaim(int maxPages) throws StorageException {
    if (pages.freePages() == 0) {
      return 0;
    }
    commit();
    return pages.reclaim(maxPages);
  }

  /** The index {@code fraction} (0..1) of the way from the lowest recorded index to the highest. */
  public long indexAtFraction(double fraction) throws StorageException {
    long min = minIndex();
    long max = maxIndex();
    if (min < 0 || max < min) {
      return -1;
    }
    return min + (long) Math.floor((max - min) * Math.min(1, Math.max(0, fraction)));
  }

  /**
   * Drops every operation row of a revision before {@code revision} (rows that changed nothing, revision 0, stay
   * with their entries) and records the compact revision in {@code meta}; returns how many rows went.
   */
  public int compact(long revision) throws StorageException {
    commit();
    try {
      db.setAutoCommit(false);
      int n = ops.compact(revision);
      db.commit();
      db.setAutoCommit(true);
      return n;
    } catch (SQLException e) {
      throw abandon("cannot compact " + file + " to revision " + revision, e);
    }
  }

  /** The highest index applied before {@code cutoff} (by {@code applied_at}), or -1. */
  public long lastIndexAppliedBefore(Instant cutoff) throws StorageException {
    commit();
    return pages.lastIndexAppliedBefore(cutoff);
  }

  /** The lowest index recorded, or -1. */
  public long minIndex() throws StorageException {
    return pages.minIndex();
  }

  /** One row of {@code key_history}, for tests and tools. */
  public record KeyEvent(long idx, long term, int seq, String op, byte[] value, long revision, String result) {}

  /** A key's history in log order. */
  public List<KeyEvent> history(byte[] key) throws StorageException {
    return pages.history(key);
  }

  @Override
  public void close() throws StorageException {
    try {
      if (failed == null) {
        commit();
      }
    } finally {
      closeQuietly(db);
    }
  }

  private static void closeQuietly(Connection db) {
    if (db != null) {
      try {
        db.close();
      } catch (SQLException ignored) {
        // closing after a failure
      }
    }
  }
}
