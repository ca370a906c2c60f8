package dev.kvraft.storage;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;

/**
 * The shape of {@code kvraft.db} (see {@link LogMirror} and storage/README.md): creating and migrating its schema,
 * version {@value #VERSION}; the chunk tables' names and DDL and the views over them; what {@code meta} and the
 * chunks say about the revisions recorded; SQLite's quick check, and the messages that tell an operator what to do
 * with a file that fails it. Operators' queries and the tests rely on the SQL text here: it is the file's format.
 *
 * <p>No state: static methods over a connection, each run by the thread that owns that connection (for the
 * {@link LogMirror}'s, the mirror writer, {@code kvraft-mirror} in the server; for a {@link HistoryReader}'s, the
 * watch catch-up thread that opened it).
 */
final class MirrorSchema {
  static final int VERSION = 4;
  private static final String CHUNK_PREFIX = "raft_log_ops_from_";
  static final String OP_COLUMNS = "idx, seq, op, key, value, revision, result, create_revision, version";

  private MirrorSchema() {}

  /**
   * Brings the schema to version {@value #VERSION} in one transaction (an empty file gets all of it); a file already
   * at it is left alone, a newer one refused with what to do. The caller turns auto-commit back on.
   */
  static void migrate(Connection db, Path file) throws SQLException, StorageException {
    int version;
    try (var st = db.createStatement(); var rs = st.executeQuery("PRAGMA user_version")) {
      version = rs.getInt(1);
    }
    if (version > VERSION) {
      throw new StorageException(file + " has schema version " + version + ", newer than this kvraft knows ("
          + VERSION + "); run the newer kvraft, or move the file aside to rebuild it");
    }
    if (version == VERSION) {
      if (!columns(db, "raft_log").contains("revision")) {
        // A file of a development build that had version 4 before raft_log had the column.
        try (var st = db.createStatement()) {
          st.execute("ALTER TABLE raft_log ADD COLUMN revision INTEGER");
        }
      }
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
              payload    BLOB,                 -- the LogEntry protobuf
              revision   INTEGER               -- store revision once applied (NULL: written before schema 4)
            )""");
        st.execute(createChunk(0));
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
      }
      if (version >= 1 && version <= 2) {
        // 2 -> 3: every op row may carry the key's create revision and version (watch events need them), and meta
        // records history_from.
        for (long chunk : chunkList(db)) {
          if (!columns(db, chunkTable(chunk)).contains("create_revision")) {
            st.execute("ALTER TABLE " + chunkTable(chunk) + " ADD COLUMN create_revision INTEGER");
            st.execute("ALTER TABLE " + chunkTable(chunk) + " ADD COLUMN version INTEGER");
          }
          // Their rows will not say their revision in raft_log (below): history is read by revision through this.
          st.execute(indexRevisions(chunk));
        }
        long lowest = 0;
        for (long chunk : chunkList(db)) {
          lowest = firstRevision(st, chunk);
          if (lowest > 0) {
            break;
          }
        }
        long compacted = compactRevision(st);
        st.execute("INSERT OR REPLACE INTO meta VALUES ('history_from', '" + Math.max(1, Math.max(lowest, compacted))
            + "')");
      }
      if (version >= 1) {
        // 3 -> 4: raft_log records the store revision each entry left (NULL in the rows already there), which
        // firstEntryReaching searches; chunks made from now on have no index on revision (BENCHMARKS.md, "kvraft.db
        // without an index on revision").
        st.execute("ALTER TABLE raft_log ADD COLUMN revision INTEGER");
        // The chunks keep their revision index: history from before this is read by revision through it
        // (HistoryReader, where firstEntryReaching cannot say). Chunks made from now on have none; the one open now
        // keeps its index up to date until it is sealed.
      }
      createViews(st, chunkList(db));
      st.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', '" + VERSION + "')");
      st.execute("PRAGMA user_version = " + VERSION);
      db.commit();
    } catch (SQLException e) {
      db.rollback();
      throw e;
    }
  }

  /** A chunk's index on revision: kept by files from before schema 4, for the history they hold. */
  static String indexRevisions(long chunk) {
    return "CREATE INDEX IF NOT EXISTS " + chunkTable(chunk) + "_by_revision ON " + chunkTable(chunk) + "(revision)";
  }

  /** The chunks with an index on revision (see {@link #indexRevisions}). */
  static java.util.Set<Long> chunksIndexedByRevision(Statement st) throws SQLException {
    var set = new HashSet<Long>();
    try (var rs = st.executeQuery("SELECT tbl_name FROM sqlite_master WHERE type = 'index'"
        + " AND name LIKE '" + CHUNK_PREFIX + "%_by_revision'")) {
      while (rs.next()) {
        set.add(Long.parseLong(rs.getString(1).substring(CHUNK_PREFIX.length())));
      }
    }
    return set;
  }

  private static java.util.Set<String> columns(Connection db, String table) throws SQLException {
    var columns = new HashSet<String>();
    try (var st = db.createStatement(); var rs = st.executeQuery("PRAGMA table_info(" + table + ")")) {
      while (rs.next()) {
        columns.add(rs.getString("name"));
      }
    }
    return columns;
  }

  // ---- chunks ---------------------------------------------------------------------------------

  static String chunkTable(long first) {
    return CHUNK_PREFIX + first;
  }

  static String createChunk(long first) {
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

  /**
   * The highest revision recorded (0 when none): what {@code raft_log}'s last row says, or, in a file whose last row
   * was written before schema 4, the last change in the chunks (walking each one's primary key backwards).
   */
  static long maxRevision(Connection db, List<Long> chunks) throws SQLException {
    try (var st = db.createStatement()) {
      try (var rs = st.executeQuery("SELECT revision FROM raft_log ORDER BY idx DESC LIMIT 1")) {
        if (rs.next() && rs.getObject(1) != null) {
          return rs.getLong(1);
        }
      }
      return rowRevisionAtOrBelow(st, chunks, Long.MAX_VALUE);
    }
  }

  /**
   * The revision of the last row with {@code idx <= upTo} that has one (0 when none), rows that changed nothing
   * (revision 0) aside: walks the chunk's primary key backwards. As rows are written in apply order, this is also the
   * highest revision among those rows.
   */
  static long revisionAtOrBelow(Statement st, long chunk, long upTo) throws SQLException {
    try (var rs = st.executeQuery("SELECT revision FROM " + chunkTable(chunk) + " WHERE idx <= " + upTo
        + " AND revision > 0 ORDER BY idx DESC, seq DESC LIMIT 1")) {
      return rs.next() ? rs.getLong(1) : 0;
    }
  }

  /** The revision of the first row of {@code chunk} that has one (0 when none): a forward walk. */
  private static long firstRevision(Statement st, long chunk) throws SQLException {
    try (var rs = st.executeQuery("SELECT revision FROM " + chunkTable(chunk) + " WHERE revision > 0"
        + " ORDER BY idx, seq LIMIT 1")) {
      return rs.next() ? rs.getLong(1) : 0;
    }
  }

  /** {@link #firstEntryReaching}: no entry recorded reached the revision. */
  static final long NONE = Long.MAX_VALUE;
  /** {@link #firstEntryReaching}: the entry lies among rows written before schema 4, which do not say. */
  static final long UNKNOWN = -1;

  /**
   * The index of the first entry after which the store had reached {@code revision}: the entry that made that
   * revision (all the rows of a put, a delete or a txn belong to one entry), or the first entry after it when it is
   * not recorded. Every row of that revision or later has this index or a higher one, and every earlier change a
   * lower one or this one. {@link #NONE} when no entry reached it, {@link #UNKNOWN} when it lies among rows written
   * before schema 4 (whose rows reached the revision: read those by revision). A binary search over {@code raft_log}'s
   * indexes, whose revisions never fall (entries are recorded in apply order and once; one recorded with another term
   * starts the file again), each step one seek on its integer primary key: new chunks have no index on revision.
   */
  static long firstEntryReaching(Statement st, long revision) throws SQLException {
    revision = Math.max(1, revision); // every change has a revision of 1 or more
    long lowest;
    long highest;
    try (var rs = st.executeQuery("SELECT (SELECT min(idx) FROM raft_log), (SELECT max(idx) FROM raft_log)")) {
      if (!rs.next() || rs.getObject(1) == null) {
        return NONE;
      }
      lowest = rs.getLong(1);
      highest = rs.getLong(2);
    }
    long last = entryRevision(st, highest);
    if (last < 0) { // every entry was written before schema 4: what do their rows say?
      return rowRevisionAtOrBelow(st, highest) < revision ? NONE : UNKNOWN;
    }
    if (last < revision) {
      return NONE;
    }
    // Invariant: the entries up to lo stopped short of revision (or do not say), those up to hi reached it.
    long lo = lowest - 1;
    long hi = highest;
    while (hi - lo > 1) {
      long mid = lo + (hi - lo) / 2;
      if (entryRevision(st, mid) >= revision) {
        hi = mid;
      } else {
        lo = mid;
      }
    }
    boolean afterLegacy;
    try (var rs = st.executeQuery("SELECT revision IS NULL FROM raft_log WHERE idx < " + hi
        + " ORDER BY idx DESC LIMIT 1")) {
      afterLegacy = rs.next() && rs.getBoolean(1);
    }
    // Right after the rows written before schema 4, hi is the answer only if none of theirs reached the revision.
    return afterLegacy && rowRevisionAtOrBelow(st, hi - 1) >= revision ? UNKNOWN : hi;
  }

  /** The highest revision among the rows with {@code idx <= upTo} (0 when none): each chunk walked backwards. */
  private static long rowRevisionAtOrBelow(Statement st, long upTo) throws SQLException {
    return rowRevisionAtOrBelow(st, chunkList(st.getConnection()), upTo);
  }

  private static long rowRevisionAtOrBelow(Statement st, List<Long> chunks, long upTo) throws SQLException {
    for (int i = chunks.size() - 1; i >= 0; i--) {
      long revision = revisionAtOrBelow(st, chunks.get(i), upTo);
      if (revision > 0) {
        return revision;
      }
    }
    return 0;
  }

  /** The revision recorded with the last entry at or below {@code idx}: 0 when none, -1 when it does not say. */
  private static long entryRevision(Statement st, long idx) throws SQLException {
    try (var rs = st.executeQuery("SELECT revision FROM raft_log WHERE idx <= " + idx + " ORDER BY idx DESC LIMIT 1")) {
      if (!rs.next()) {
        return 0;
      }
      return rs.getObject(1) == null ? -1 : rs.getLong(1);
    }
  }

  /** {@code meta}'s compact_revision: the last compaction's revision (0 when none). */
  static long compactRevision(Statement st) throws SQLException {
    try (var rs = st.executeQuery("SELECT value FROM meta WHERE key = 'compact_revision'")) {
      return rs.next() ? Long.parseLong(rs.getString(1)) : 0;
    }
  }

  /** {@code meta}'s history_from: the lowest revision from which every change is recorded (1 when unset). */
  static long historyFrom(Connection db) throws SQLException {
    try (var st = db.createStatement();
         var rs = st.executeQuery("SELECT value FROM meta WHERE key = 'history_from'")) {
      return rs.next() ? Long.parseLong(rs.getString(1)) : 1;
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
  static void createViews(Statement st, List<Long> chunks) throws SQLException {
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
   * SQLite's quick check of every page (a second or so per gigabyte); throws, saying what to do, when it finds
   * damage.
   */
  static void quickCheck(Connection db, Path file) throws StorageException {
    try (var st = db.createStatement(); var rs = st.executeQuery("PRAGMA quick_check")) {
      var verdict = rs.next() ? rs.getString(1) : "no answer";
      if (!"ok".equals(verdict)) {
        throw new StorageException(damaged(file, verdict));
      }
    } catch (SQLException e) {
      throw new StorageException(damaged(file, e.getMessage()), e);
    }
  }

  private static String damaged(Path file, String why) {
    return file + " failed SQLite's quick check (" + why + "). " + whatToDo(file);
  }

  static String corrupt(Path file, String why) {
    return file + " is not a usable kvraft log database (" + why + "). The node stops rather than serve from it. "
        + whatToDo(file);
  }

  private static String whatToDo(Path file) {
    return "It is only a readable copy of the Raft log: stop the node, move the file aside (mv " + file + " " + file
        + ".broken) and start again; it is rebuilt from the entries after the last snapshot.";
  }
}
