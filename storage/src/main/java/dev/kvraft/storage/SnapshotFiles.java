package dev.kvraft.storage;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.Map;
import java.util.List;
import java.util.function.Consumer;
import java.util.regex.Pattern;

/**
 * Snapshot files: each a SQLite database with three tables, {@code meta} (one row: term, index, revision,
 * configuration, created_at, key_count), {@code system} (name, value: cluster state that is not key-values, such as
 * whether a member token exists) and {@code kv} (key, value, create_revision, mod_revision, version).
 *
 * <p>{@link #write} builds the file under a temporary name outside the snapshot directory, fsyncs it, verifies it,
 * and renames it into place, so a crash never leaves a half-written snapshot where Raft looks for them. Stateless.
 */
public final class SnapshotFiles {
  /** {@code snapshot.<term>_<index>}, the name Ratis's snapshot storage recognises. */
  public static final Pattern NAME = Pattern.compile("snapshot\\.(\\d+)_(\\d+)");

  private SnapshotFiles() {}

  /** What the {@code meta} table says. */
  public record Meta(long term, long index, long revision, String configuration, String createdAt, long keyCount,
      Map<String, String> system) {
    public Meta {
      system = Map.copyOf(system);
    }
  }

  /** One row of the {@code kv} table. */
  public record Row(byte[] key, byte[] value, long createRevision, long modRevision, long version) {}

  public static String fileName(long term, long index) {
    return "snapshot." + term + "_" + index;
  }

  /**
   * Builds a snapshot file in {@code tmpDir}: written, fsynced and verified (SQLite quick check, key count). It
   * becomes a snapshot only once {@link #moveInto} puts it into the snapshot directory. On failure nothing is left.
   *
   * @return the temporary file
   */
  public static Path build(Path tmpDir, long term, long index, long revision, String configuration,
      long keyCount, Iterator<Row> rows) throws StorageException {
    return build(tmpDir, term, index, revision, configuration, Map.of(), keyCount, rows);
  }

  /**
   * As {@link #build(Path, long, long, long, String, long, Iterator)}, with the cluster's system state: named text
   * values that are not key-values (the member token), in the {@code system} table. Snapshots written before that
   * table existed read back with an empty map.
   */
  public static Path build(Path tmpDir, long term, long index, long revision, String configuration,
      Map<String, String> system, long keyCount, Iterator<Row> rows) throws StorageException {
    var name = fileName(term, index);
    Path tmp = null;
    try {
      Files.createDirectories(tmpDir);
      tmp = Files.createTempFile(tmpDir, name + ".", ".tmp");
      Files.delete(tmp);
      try (var db = DriverManager.getConnection("jdbc:sqlite:" + tmp.toAbsolutePath())) {
        try (var st = db.createStatement()) {
          st.execute("PRAGMA journal_mode = OFF");
          st.execute("PRAGMA synchronous = OFF");
          st.execute("PRAGMA page_size = 8192");
        }
        db.setAutoCommit(false);
        try (var st = db.createStatement()) {
          st.execute("CREATE TABLE meta (term INTEGER NOT NULL, idx INTEGER NOT NULL, revision INTEGER NOT NULL,"
              + " configuration TEXT, created_at TEXT NOT NULL, key_count INTEGER NOT NULL)");
          st.execute("CREATE TABLE system (name TEXT PRIMARY KEY, value TEXT NOT NULL)");
          st.execute("CREATE TABLE kv (key PRIMARY KEY, value, create_revision INTEGER NOT NULL,"
              + " mod_revision INTEGER NOT NULL, version INTEGER NOT NULL) WITHOUT ROWID");
        }
        long written = insertRows(db, rows);
        if (written != keyCount) {
          throw new StorageException("snapshot " + name + ": wrote " + written + " keys, expected " + keyCount);
        }
        try (var meta = db.prepareStatement("INSERT INTO meta VALUES (?, ?, ?, ?, ?, ?)")) {
          meta.setLong(1, term);
          meta.setLong(2, index);
          meta.setLong(3, revision);
          meta.setString(4, configuration);
          meta.setString(5, Instant.now().truncatedTo(ChronoUnit.MILLIS).toString());
          meta.setLong(6, keyCount);
          meta.executeUpdate();
        }
        try (var insert = db.prepareStatement("INSERT INTO system VALUES (?, ?)")) {
          for (var e : new java.util.TreeMap<>(system).entrySet()) {
            insert.setString(1, e.getKey());
            insert.setString(2, e.getValue());
            insert.executeUpdate();
          }
        }
        db.commit();
      }
      fsync(tmp);
      var meta = verify(tmp);
      if (meta.index() != index || meta.term() != term || meta.keyCount() != keyCount) {
        throw new StorageException("snapshot " + name + " reads back as " + meta);
      }
      return tmp;
    } catch (SQLException | IOException e) {
      if (tmp != null) {
        try {
          Files.deleteIfExists(tmp);
        } catch (IOException ignored) {
          // best effort
        }
      }
      if (e instanceof StorageException se) {
        throw se;
      }
      throw new StorageException("cannot write snapshot " + name + " in " + tmpDir + ": " + e.getMessage(), e);
    }
  }

  private static long insertRows(Connection db, Iterator<Row> rows) throws SQLException {
    var batch = new ArrayList<Row>(RowInserter.ROWS);
    long written = 0;
    try (var inserter = new RowInserter<Row>(db, "INSERT INTO kv VALUES ", "(?, ?, ?, ?, ?)", (st, c, r) -> {
      Bytes.bind(st, c++, r.key());
      Bytes.bind(st, c++, r.value());
      st.setLong(c++, r.createRevision());
      st.setLong(c++, r.modRevision());
      st.setLong(c++, r.version());
      return c;
    })) {
      while (rows.hasNext()) {
        batch.add(rows.next());
        if (batch.size() == RowInserter.ROWS || !rows.hasNext()) {
          inserter.insert(batch);
          written += batch.size();
          batch.clear();
        }
      }
    }
    return written;
  }

  /** Atomically renames a built snapshot into {@code dir} under its proper name and fsyncs the directory. */
  public static Path moveInto(Path built, Path dir, long term, long index) throws StorageException {
    var target = dir.resolve(fileName(term, index));
    try {
      Files.createDirectories(dir);
      Files.move(built, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      fsync(dir);
      return target;
    } catch (IOException e) {
      throw new StorageException("cannot move snapshot " + built + " to " + target + ": " + e.getMessage(), e);
    }
  }

  /** Checks a snapshot file (SQLite quick check, one meta row, key count) and returns its meta. */
  public static Meta verify(Path file) throws StorageException {
    try (var db = open(file)) {
      try (var st = db.createStatement(); var rs = st.executeQuery("PRAGMA quick_check")) {
        var verdict = rs.next() ? rs.getString(1) : "no answer";
        if (!"ok".equals(verdict)) {
          throw new StorageException("snapshot " + file + " is corrupt: " + verdict);
        }
      }
      var meta = meta(db, file);
      try (var st = db.createStatement(); var rs = st.executeQuery("SELECT count(*) FROM kv")) {
        long n = rs.getLong(1);
        if (n != meta.keyCount()) {
          throw new StorageException("snapshot " + file + " holds " + n + " keys but its meta says "
              + meta.keyCount());
        }
      }
      return meta;
    } catch (SQLException e) {
      throw new StorageException("cannot read snapshot " + file + ": " + e.getMessage(), e);
    }
  }

  /**
   * Streams every row of a snapshot to {@code sink} in the table's primary-key order: text keys, then binary ones,
   * each run in byte order (SQLite sorts TEXT before BLOB); returns its meta.
   */
  public static Meta read(Path file, Consumer<Row> sink) throws StorageException {
    try (var db = open(file)) {
      var meta = meta(db, file);
      long n = 0;
      try (var st = db.createStatement();
           var rs = st.executeQuery("SELECT key, value, create_revision, mod_revision, version FROM kv")) {
        while (rs.next()) {
          var key = Bytes.read(rs, 1);
          var value = Bytes.read(rs, 2);
          boolean nullValue = Bytes.wasNull(rs);
          var row = new Row(key, value, rs.getLong(3), rs.getLong(4), rs.getLong(5));
          checkRow(file, meta, row, nullValue);
          sink.accept(row);
          n++;
        }
      }
      if (n != meta.keyCount()) {
        throw new StorageException("snapshot " + file + " holds " + n + " keys but its meta says " + meta.keyCount());
      }
      return meta;
    } catch (SQLException e) {
      throw new StorageException("cannot read snapshot " + file + ": " + e.getMessage(), e);
    }
  }

  /**
   * A row no sequence of writes could have made (SQLite's quick check does not look inside rows, so a damaged file
   * can pass it): an empty or missing key, a missing value, or revisions out of order.
   */
  private static void checkRow(Path file, Meta meta, Row r, boolean nullValue) throws StorageException {
    String problem = null;
    if (r.key().length == 0) {
      problem = "an empty key";
    } else if (nullValue) {
      problem = "no value";
    } else if (r.version() < 1 || r.createRevision() < 1 || r.createRevision() > r.modRevision()
        || r.modRevision() > meta.revision()) {
      problem = "impossible revisions (create " + r.createRevision() + ", mod " + r.modRevision() + ", version "
          + r.version() + ", snapshot revision " + meta.revision() + ")";
    }
    if (problem != null) {
      throw new StorageException("snapshot " + file + " is damaged: a row has " + problem);
    }
  }

  /** The snapshot files in a directory, newest (highest index) first. */
  public static List<Path> list(Path dir) throws StorageException {
    if (!Files.isDirectory(dir)) {
      return List.of();
    }
    try (var files = Files.list(dir)) {
      var list = new ArrayList<>(files.filter(p -> NAME.matcher(p.getFileName().toString()).matches()).toList());
      list.sort(Comparator.comparingLong(SnapshotFiles::indexOf).reversed());
      return list;
    } catch (IOException e) {
      throw new StorageException("cannot list snapshots in " + dir + ": " + e.getMessage(), e);
    }
  }

  /** The index in a snapshot file's name. */
  public static long indexOf(Path file) {
    var m = NAME.matcher(file.getFileName().toString());
    if (!m.matches()) {
      throw new IllegalArgumentException(file + " is not named snapshot.<term>_<index>");
    }
    return Long.parseLong(m.group(2));
  }

  private static Connection open(Path file) throws SQLException, StorageException {
    if (!Files.isRegularFile(file)) {
      throw new StorageException("snapshot " + file + " does not exist");
    }
    // Read-only by the open flag, not by a "file:...?mode=ro" URI: in a URI, a '#', '?' or '%' of the path (the
    // data directory's name) would make SQLite open another file.
    var config = new org.sqlite.SQLiteConfig();
    config.setReadOnly(true);
    return DriverManager.getConnection("jdbc:sqlite:" + file.toAbsolutePath(), config.toProperties());
  }

  private static Meta meta(Connection db, Path file) throws SQLException, StorageException {
    try (var st = db.createStatement();
         var rs = st.executeQuery("SELECT term, idx, revision, configuration, created_at, key_count FROM meta")) {
      if (!rs.next()) {
        throw new StorageException("snapshot " + file + " has no meta row");
      }
      var meta = new Meta(rs.getLong(1), rs.getLong(2), rs.getLong(3), rs.getString(4), rs.getString(5),
          rs.getLong(6), system(db));
      if (rs.next()) {
        throw new StorageException("snapshot " + file + " has more than one meta row");
      }
      return meta;
    }
  }

  /** The system table's rows; none in a snapshot written before it existed. */
  private static Map<String, String> system(Connection db) throws SQLException {
    var map = new java.util.HashMap<String, String>();
    try (var st = db.createStatement();
         var has = st.executeQuery("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'system'")) {
      if (!has.next()) {
        return map;
      }
    }
    try (var st = db.createStatement(); var rs = st.executeQuery("SELECT name, value FROM system")) {
      while (rs.next()) {
        map.put(rs.getString(1), rs.getString(2));
      }
    }
    return map;
  }

  /** Forces a file, or a directory's entries (after a rename into it), to disk. */
  public static void fsync(Path path) throws IOException {
    try (var ch = FileChannel.open(path, Files.isDirectory(path)
        ? new StandardOpenOption[] {StandardOpenOption.READ} : new StandardOpenOption[] {StandardOpenOption.WRITE})) {
      ch.force(true);
    }
  }
}
