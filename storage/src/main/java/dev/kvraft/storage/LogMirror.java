package dev.kvraft.storage;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
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
 * snapshot are applied again on every restart); one recorded with another term (a data directory whose Ratis log
 * was replaced) is overwritten. Writes are grouped into one transaction per {@link #commit()} — one per batch the
 * database loop applied. WAL mode with {@code synchronous=NORMAL}: Ratis's own log is the durable copy.
 *
 * <p>Rows are buffered by {@link #entry} and {@link #op} and written by {@link #commit} with multi-row INSERTs
 * ({@link RowInserter}: one JNI call for up to {@value RowInserter#ROWS} rows): the per-row cost of SQLite through
 * JDBC is mostly the call, not the insert.
 *
 * <p>Not thread-safe: owned by one thread (the mirror writer).
 */
public final class LogMirror implements AutoCloseable {
  public static final int SCHEMA_VERSION = 3;
  /** Rows in a chunk before it is sealed. */
  static final int CHUNK_ROWS = 250_000;
  /**
   * At most this many chunks (100 million operations) are kept, whatever {@code log.retention} says: SQLite
   * allows 500 terms in the view's compound SELECT.
   */
  static final int MAX_CHUNKS = 400;
  private static final String CHUNK_PREFIX = "raft_log_ops_from_";
  static final String OP_COLUMNS = "idx, seq, op, key, value, revision, result, create_revision, version";

  private record EntryRow(long idx, long term, String kind, String proposer, int opCount, String summary,
      String appliedAt, byte[] payload) {}

  private record OpRow(long idx, int seq, String op, byte[] key, byte[] value, long revision, String result,
      long createRevision, long version) {}

  private final java.util.ArrayList<EntryRow> entryRows = new java.util.ArrayList<>();
  private final java.util.ArrayList<OpRow> opRows = new java.util.ArrayList<>();

  private final Path file;
  private final Connection db;
  private final int chunkRows;
  private final int maxChunks;
  private final PreparedStatement termAt;
  private final PreparedStatement deleteEntry;
  private final RowInserter<EntryRow> entryInserter;
  /** Into the open chunk; replaced when it is sealed. */
  private RowInserter<OpRow> opInserter;
  /** First index of every chunk, ascending; the last is the open chunk. */
  private final List<Long> chunks = new ArrayList<>();
  private long openRows;
  private long maxIndex;
  /** The highest revision recorded, and the lowest from which every change is recorded (meta history_from). */
  private long maxRevision;
  private long historyFrom;
  private boolean inTransaction;
  private boolean skipping;

  private LogMirror(Path file, Connection db, int chunkRows, int maxChunks) throws SQLException {
    this.file = file;
    this.db = db;
    this.chunkRows = chunkRows;
    this.maxChunks = maxChunks;
    termAt = db.prepareStatement("SELECT term FROM raft_log WHERE idx = ?");
    deleteEntry = db.prepareStatement("DELETE FROM raft_log WHERE idx = ?");
    try (var st = db.createStatement(); var rs = st.executeQuery("SELECT coalesce(max(idx), -1) FROM raft_log")) {
      maxIndex = rs.getLong(1);
    }
    chunks.addAll(chunkList(db));
    try (var st = db.createStatement();
         var rs = st.executeQuery("SELECT count(*) FROM " + chunkTable(chunks.getLast()))) {
      openRows = rs.getLong(1);
    }
    historyFrom = historyFrom(db);
    // A snapshot installed over a gap left no row at its revision: history_from says how far the store was.
    maxRevision = Math.max(maxRevision(db, chunks), historyFrom - 1);
    entryInserter = new RowInserter<>(db, "INSERT INTO raft_log(idx, term, kind, proposer, op_count, summary,"
        + " applied_at, payload) VALUES ", "(?, ?, ?, ?, ?, ?, ?, ?)", LogMirror::bindEntry);
    opInserter = opInserter(db, chunks.getLast());
  }

  private static RowInserter<OpRow> opInserter(Connection db, long chunk) {
    return new RowInserter<>(db, "INSERT INTO " + chunkTable(chunk) + "(" + OP_COLUMNS + ") VALUES ",
        "(?, ?, ?, ?, ?, ?, ?, ?, ?)", LogMirror::bindOp);
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
    return c;
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
      migrate(db, file);
      db.setAutoCommit(true);
      return new LogMirror(file, db, chunkRows, maxChunks);
    } catch (SQLException e) {
      closeQuietly(db);
      throw new StorageException(corrupt(file, e.getMessage()), e);
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
    try (var st = db.createStatement(); var rs = st.executeQuery("PRAGMA quick_check")) {
      var verdict = rs.next() ? rs.getString(1) : "no answer";
      if (!"ok".equals(verdict)) {
        throw new StorageException(damaged(verdict));
      }
    } catch (SQLException e) {
      throw new StorageException(damaged(e.getMessage()), e);
    }
  }

  private String damaged(String why) {
    return file + " failed SQLite's quick check (" + why + "). " + whatToDo(file);
  }

  private static String corrupt(Path file, String why) {
    return file + " is not a usable kvraft log database (" + why + "). The node stops rather than serve from it. "
        + whatToDo(file);
  }

  private static String whatToDo(Path file) {
    return "It is only a readable copy of the Raft log: stop the node, move the file aside (mv " + file + " " + file
        + ".broken) and start again; it is rebuilt from the entries after the last snapshot.";
  }

  private static void migrate(Connection db, Path file) throws SQLException, StorageException {
    int version;
    try (var st = db.createStatement(); var rs = st.executeQuery("PRAGMA user_version")) {
      version = rs.getInt(1);
    }
    if (version > SCHEMA_VERSION) {
      throw new StorageException(file + " has schema version " + version + ", newer than this kvraft knows ("
          + SCHEMA_VERSION + "); run the newer kvraft, or move the file aside to rebuild it");
    }
    if (version == SCHEMA_VERSION) {
      return;
    }
    db.setAutoCommit(false);
    try (var st = db.createStatement()) {
      if (version == 0) {
        st.execute("""
            CREATE TABLE IF NOT EXISTS raft_log (
              idx        INTEGER PRIMARY KEY,  -- Raft log index
              term       INTEGER NOT NULL,
              kind       TEXT    NOT NULL,     -- normal | configuration | metadata | snapshot-install
              proposer   TEXT,                 -- node@boot that proposed a normal entry
              op_count   INTEGER NOT NULL,
              summary    TEXT,
              applied_at TEXT    NOT NULL,     -- UTC, when this node applied it
              payload    BLOB                  -- the LogEntry protobuf
            )""");
        st.execute(createChunk(0));
        st.execute(indexRevisions(0));
        st.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)");
        st.execute("INSERT OR REPLACE INTO meta VALUES ('history_from', '1')");
      } else if (version == 1) {
        // 1 -> 2: the one raft_log_ops table, with its key index, becomes the first (sealed) chunk.
        long first;
        long next;
        try (var rs = st.executeQuery("SELECT coalesce(min(idx), 0), coalesce(max(idx), -1) + 1 FROM raft_log_ops")) {
          first = rs.getLong(1);
          next = Math.max(first + 1, rs.getLong(2));
        }
        st.execute("DROP VIEW IF EXISTS key_history");
        st.execute("ALTER TABLE raft_log_ops RENAME TO " + chunkTable(first));
        st.execute(createChunk(next));
        st.execute(indexRevisions(next));
      }
      if (version >= 1) {
        // 2 -> 3: every op row may carry the key's create revision and version (watch events need them), each chunk
        // gets an index on revision (watches read history by revision), and meta records history_from.
        for (long chunk : chunkList(db)) {
          var columns = new java.util.HashSet<String>();
          try (var rs = st.executeQuery("PRAGMA table_info(" + chunkTable(chunk) + ")")) {
            while (rs.next()) {
              columns.add(rs.getString("name"));
            }
          }
          if (!columns.contains("create_revision")) {
            st.execute("ALTER TABLE " + chunkTable(chunk) + " ADD COLUMN create_revision INTEGER");
            st.execute("ALTER TABLE " + chunkTable(chunk) + " ADD COLUMN version INTEGER");
          }
          st.execute(indexRevisions(chunk));
        }
        long lowest = 0;
        for (long chunk : chunkList(db)) {
          try (var rs = st.executeQuery("SELECT coalesce(min(revision), 0) FROM " + chunkTable(chunk)
              + " WHERE revision > 0")) {
            lowest = rs.getLong(1);
          }
          if (lowest > 0) {
            break;
          }
        }
        long compacted = 0;
        try (var rs = st.executeQuery("SELECT value FROM meta WHERE key = 'compact_revision'")) {
          if (rs.next()) {
            compacted = Long.parseLong(rs.getString(1));
          }
        }
        st.execute("INSERT OR REPLACE INTO meta VALUES ('history_from', '" + Math.max(1, Math.max(lowest, compacted))
            + "')");
      }
      createViews(st, chunkList(db));
      st.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', '" + SCHEMA_VERSION + "')");
      st.execute("PRAGMA user_version = " + SCHEMA_VERSION);
      db.commit();
    } catch (SQLException e) {
      db.rollback();
      throw e;
    }
  }

  // ---- chunks ---------------------------------------------------------------------------------

  private static String chunkTable(long first) {
    return CHUNK_PREFIX + first;
  }

  static String chunkName(long first) {
    return chunkTable(first);
  }

  private static String createChunk(long first) {
    return "CREATE TABLE " + chunkTable(first) + """
         (
          idx      INTEGER NOT NULL,
          seq      INTEGER NOT NULL,       -- position in the entry
          op       TEXT    NOT NULL,       -- put | delete | delete-range | txn
          key,                             -- TEXT when valid UTF-8, else BLOB
          value,
          revision INTEGER,                -- store revision of the write; 0 when it changed nothing
          result   TEXT,                   -- created | updated | deleted | not found | compare succeeded/failed
          create_revision INTEGER,         -- a put's key: the revision that created it (NULL otherwise)
          version  INTEGER,                -- a put's key: its version after the put (NULL otherwise)
          PRIMARY KEY (idx, seq)
        ) WITHOUT ROWID""";
  }

  /** Watches read history by revision; appended in revision order, the index costs only its last pages. */
  private static String indexRevisions(long first) {
    return "CREATE INDEX IF NOT EXISTS " + chunkTable(first) + "_by_revision ON " + chunkTable(first) + "(revision)";
  }

  /** The highest revision in the chunks (0 when none), through their revision indexes. */
  static long maxRevision(Connection db, List<Long> chunks) throws SQLException {
    try (var st = db.createStatement()) {
      for (int i = chunks.size() - 1; i >= 0; i--) {
        try (var rs = st.executeQuery("SELECT coalesce(max(revision), 0) FROM " + chunkTable(chunks.get(i)))) {
          long max = rs.getLong(1);
          if (max > 0) {
            return max;
          }
        }
      }
    }
    return 0;
  }

  static long historyFrom(Connection db) throws SQLException {
    try (var st = db.createStatement();
         var rs = st.executeQuery("SELECT value FROM meta WHERE key = 'history_from'")) {
      return rs.next() ? Long.parseLong(rs.getString(1)) : 1;
    }
  }

  /** Raises history_from (inside the caller's transaction). */
  private void raiseHistoryFrom(long revision) throws SQLException {
    if (revision > historyFrom) {
      historyFrom = revision;
      try (var st = db.createStatement()) {
        st.executeUpdate("INSERT OR REPLACE INTO meta VALUES ('history_from', '" + revision + "')");
      }
    }
  }

  /** The highest revision of the rows with {@code idx <= upTo} (0 when none): walks the primary key backwards. */
  private long revisionAtOrBelow(java.sql.Statement st, long chunk, long upTo) throws SQLException {
    try (var rs = st.executeQuery("SELECT revision FROM " + chunkTable(chunk) + " WHERE idx <= " + upTo
        + " AND revision > 0 ORDER BY idx DESC, seq DESC LIMIT 1")) {
      return rs.next() ? rs.getLong(1) : 0;
    }
  }

  /** The chunks' first indexes, ascending, from the schema itself. */
  static List<Long> chunkList(Connection db) throws SQLException {
    var list = new ArrayList<Long>();
    try (var st = db.createStatement(); var rs = st.executeQuery(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '" + CHUNK_PREFIX + "%'")) {
      while (rs.next()) {
        list.add(Long.parseLong(rs.getString(1).substring(CHUNK_PREFIX.length())));
      }
    }
    list.sort(null);
    return list;
  }

  /** (Re)creates {@code raft_log_ops} over the chunks, and {@code key_history} over it. */
  private static void createViews(java.sql.Statement st, List<Long> chunks) throws SQLException {
    var union = new StringBuilder();
    for (long first : chunks) {
      union.append(union.isEmpty() ? "" : " UNION ALL ").append("SELECT ").append(OP_COLUMNS).append(" FROM ")
          .append(chunkTable(first));
    }
    st.execute("DROP VIEW IF EXISTS raft_log_ops");
    st.execute("CREATE VIEW raft_log_ops AS " + union);
    st.execute("""
        CREATE VIEW IF NOT EXISTS key_history AS
          SELECT o.key, o.op, o.value, o.revision, o.result, l.idx, l.term, o.seq, l.proposer, l.applied_at
          FROM raft_log_ops o JOIN raft_log l ON l.idx = o.idx""");
  }

  /**
   * Seals the open chunk (builds its key index) and opens a new one starting at {@code first}; inside the current
   * transaction. Beyond {@code maxChunks} the oldest chunks go, with their entries.
   */
  private void seal(long first) throws SQLException {
    long open = chunks.getLast();
    try (var st = db.createStatement()) {
      st.execute("CREATE INDEX " + chunkTable(open) + "_by_key ON " + chunkTable(open) + "(key, idx)");
      st.execute(createChunk(first));
      st.execute(indexRevisions(first));
      chunks.add(first);
      while (chunks.size() > maxChunks) {
        long oldest = chunks.removeFirst();
        raiseHistoryFrom(revisionAtOrBelow(st, oldest, Long.MAX_VALUE) + 1);
        st.execute("DROP TABLE " + chunkTable(oldest));
        st.execute("DELETE FROM raft_log WHERE idx < " + chunks.getFirst());
      }
      createViews(st, chunks);
    }
    openRows = 0;
    opInserter.close();
    opInserter = opInserter(db, first);
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
   * index is already recorded with the same term.
   */
  public void entry(long idx, long term, EntryKind kind, String proposer, int opCount, String summary, byte[] payload)
      throws StorageException {
    try {
      begin();
      skipping = false;
      if (idx <= maxIndex) {
        termAt.setLong(1, idx);
        try (var rs = termAt.executeQuery()) {
          if (rs.next()) {
            if (rs.getLong(1) == term) {
              skipping = true;
              return;
            }
            deleteEntry.setLong(1, idx);
            deleteEntry.executeUpdate();
            try (var st = db.createStatement()) {
              // Rare (a replaced Ratis log), so no chunk bookkeeping: each delete is one primary-key seek.
              for (long first : chunks) {
                st.executeUpdate("DELETE FROM " + chunkTable(first) + " WHERE idx = " + idx);
              }
            }
          }
        }
      }
      entryRows.add(new EntryRow(idx, term, kind.sql(), proposer == null || proposer.isEmpty() ? null : proposer, opCount,
          summary, Instant.now().truncatedTo(ChronoUnit.MILLIS).toString(),
          payload == null || payload.length == 0 ? null : payload));
      maxIndex = Math.max(maxIndex, idx);
    } catch (SQLException e) {
      throw new StorageException("cannot record log entry " + idx + " in " + file + ": " + e.getMessage(), e);
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
    if (skipping) {
      return;
    }
    opRows.add(new OpRow(idx, seq, op.sql(), key, value, revision, result.sql(), createRevision, version));
    maxRevision = Math.max(maxRevision, revision);
  }

  /**
   * The entry last passed to {@link #entry} installed a snapshot at store revision {@code revision}: when this file
   * holds no change up to it (a lagging node got the leader's snapshot), the changes in between are missing, and
   * history here starts after it.
   */
  public void installed(long revision) throws StorageException {
    if (skipping || revision <= maxRevision) {
      return;
    }
    try {
      begin();
      maxRevision = revision;
      raiseHistoryFrom(revision + 1);
    } catch (SQLException e) {
      throw new StorageException("cannot record a snapshot install in " + file + ": " + e.getMessage(), e);
    }
  }

  /** The lowest revision from which every change is recorded here (watches cannot start before it). */
  public long historyFrom() {
    return historyFrom;
  }

  /** The highest revision recorded (committed or not). */
  public long maxRevision() {
    return maxRevision;
  }

  /** Commits what was recorded since the last commit. */
  public void commit() throws StorageException {
    if (!inTransaction) {
      return;
    }
    try {
      writeEntries();
      writeOps();
      db.commit();
      db.setAutoCommit(true);
      inTransaction = false;
    } catch (SQLException e) {
      throw new StorageException("cannot commit to " + file + ": " + e.getMessage(), e);
    }
  }

  private void writeEntries() throws SQLException {
    entryInserter.insert(entryRows);
    entryRows.clear();
  }

  private void writeOps() throws SQLException {
    if (opRows.isEmpty()) {
      return;
    }
    if (openRows >= chunkRows) {
      seal(opRows.getFirst().idx());
    }
    opInserter.insert(opRows);
    openRows += opRows.size();
    opRows.clear();
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
    try {
      commit();
      db.setAutoCommit(false);
      int n;
      try (var st = db.createStatement()) {
        boolean dropped = false;
        long open = chunks.getLast();
        for (var it = chunks.iterator(); it.hasNext(); ) {
          long first = it.next();
          var table = chunkTable(first);
          long max;
          try (var rs = st.executeQuery("SELECT coalesce(max(idx), -1) FROM " + table)) {
            max = rs.getLong(1);
          }
          raiseHistoryFrom(revisionAtOrBelow(st, first, upTo) + 1);
          if (first != open && max <= upTo) {
            st.execute("DROP TABLE " + table);
            it.remove();
            dropped = true;
          } else {
            st.executeUpdate("DELETE FROM " + table + " WHERE idx <= " + upTo);
          }
        }
        if (dropped) {
          createViews(st, chunks);
        }
        n = st.executeUpdate("DELETE FROM raft_log WHERE idx <= " + upTo);
      }
      db.commit();
      db.setAutoCommit(true);
      return n;
    } catch (SQLException e) {
      throw new StorageException("cannot prune " + file + " up to index " + upTo + ": " + e.getMessage(), e);
    }
  }

  /** Bytes the rows take: the file's pages less the free ones (what pruning lowers at once). */
  public long liveBytes() throws StorageException {
    return (pragma("page_count") - pragma("freelist_count")) * pragma("page_size");
  }

  /** The file's size in pages times the page size (what {@link #reclaim} lowers). */
  public long fileBytes() throws StorageException {
    return pragma("page_count") * pragma("page_size");
  }

  /**
   * Gives up to {@code maxPages} free pages back to the file system, in one short transaction; returns how many. A
   * file made before kvraft set {@code auto_vacuum} cannot (0): {@code VACUUM} it offline to shrink it.
   */
  public long reclaim(int maxPages) throws StorageException {
    long free = pragma("auto_vacuum") == 2 ? pragma("freelist_count") : 0;
    if (free == 0) {
      return 0;
    }
    long steps = Math.min(maxPages, free);
    long before = pragma("page_count");
    try {
      commit();
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

  /** The index {@code fraction} (0..1) of the way from the lowest recorded index to the highest. */
  public long indexAtFraction(double fraction) throws StorageException {
    long min = minIndex();
    long max = maxIndex();
    if (min < 0 || max < min) {
      return -1;
    }
    return min + (long) Math.floor((max - min) * Math.min(1, Math.max(0, fraction)));
  }

  private long pragma(String name) throws StorageException {
    try (var st = db.createStatement(); var rs = st.executeQuery("PRAGMA " + name)) {
      return rs.next() ? rs.getLong(1) : 0;
    } catch (SQLException e) {
      throw new StorageException("cannot read PRAGMA " + name + " of " + file + ": " + e.getMessage(), e);
    }
  }

  /**
   * Drops every operation row of a revision before {@code revision} (rows that changed nothing, revision 0, stay
   * with their entries) and records the compact revision in {@code meta}; returns how many rows went.
   */
  public int compact(long revision) throws StorageException {
    try {
      commit();
      db.setAutoCommit(false);
      int n = 0;
      try (var st = db.createStatement()) {
        for (long first : chunks) {
          n += st.executeUpdate("DELETE FROM " + chunkTable(first) + " WHERE revision > 0 AND revision < " + revision);
        }
        st.executeUpdate("INSERT OR REPLACE INTO meta VALUES ('compact_revision', '" + revision + "')");
      }
      raiseHistoryFrom(revision);
      db.commit();
      db.setAutoCommit(true);
      return n;
    } catch (SQLException e) {
      throw new StorageException("cannot compact " + file + " to revision " + revision + ": " + e.getMessage(), e);
    }
  }

  /** The highest index applied before {@code cutoff} (by {@code applied_at}), or -1. */
  public long lastIndexAppliedBefore(Instant cutoff) throws StorageException {
    try {
      commit();
      try (var st = db.prepareStatement("SELECT coalesce(max(idx), -1) FROM raft_log WHERE applied_at < ?")) {
        st.setString(1, cutoff.truncatedTo(ChronoUnit.MILLIS).toString());
        try (var rs = st.executeQuery()) {
          return rs.getLong(1);
        }
      }
    } catch (SQLException e) {
      throw new StorageException("cannot read " + file + ": " + e.getMessage(), e);
    }
  }

  /** The lowest index recorded, or -1. */
  public long minIndex() throws StorageException {
    try (var st = db.createStatement(); var rs = st.executeQuery("SELECT coalesce(min(idx), -1) FROM raft_log")) {
      return rs.getLong(1);
    } catch (SQLException e) {
      throw new StorageException("cannot read " + file + ": " + e.getMessage(), e);
    }
  }

  /** One row of {@code key_history}, for tests and tools. */
  public record KeyEvent(long idx, long term, int seq, String op, byte[] value, long revision, String result) {}

  /** A key's history in log order. */
  public List<KeyEvent> history(byte[] key) throws StorageException {
    try (var st = db.prepareStatement("SELECT idx, term, seq, op, value, revision, result FROM key_history"
        + " WHERE key = ? ORDER BY idx, seq")) {
      Bytes.bind(st, 1, key);
      var list = new ArrayList<KeyEvent>();
      try (var rs = st.executeQuery()) {
        while (rs.next()) {
          list.add(new KeyEvent(rs.getLong(1), rs.getLong(2), rs.getInt(3), rs.getString(4), Bytes.read(rs, 5),
              rs.getLong(6), rs.getString(7)));
        }
      }
      return list;
    } catch (SQLException e) {
      throw new StorageException("cannot read " + file + ": " + e.getMessage(), e);
    }
  }

  @Override
  public void close() throws StorageException {
    try {
      commit();
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
