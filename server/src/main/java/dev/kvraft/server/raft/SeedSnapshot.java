package dev.kvraft.server.raft;

import dev.kvraft.server.db.Alarms;
import dev.kvraft.server.db.MemberToken;
import dev.kvraft.storage.SnapshotFiles;
import dev.kvraft.storage.StorageException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;

/**
 * Restore: makes a backup file the first snapshot of a brand-new node, before Ratis reads its log. The backup's
 * rows and revision are kept; its Raft position is not: it becomes the snapshot at {@link #TERM}/{@link #INDEX},
 * the same on every node restored from any backup, so that a new cluster whose nodes were all restored from the same
 * file starts from identical logs, and a node added later gets the snapshot from the leader like any lagging one.
 *
 * <p>Why a fixed position: the new cluster's terms start again at 1, and a log whose snapshot says term 7 would hold
 * entries of term 1 after it, which Raft (and Ratis's checks) forbid. Term {@value #TERM} index {@value #INDEX} is
 * the position before the new cluster's first entry. The member token is dropped (a backup has none; the new
 * cluster's first leader makes its own), and so are the old cluster's alarms (they name its nodes and their disks).
 * Stateless.
 */
public final class SeedSnapshot {
  static final long TERM = 1;
  static final long INDEX = 0;

  private SeedSnapshot() {}

  /**
   * Checks {@code backup} (SQLite quick check, every row, the key count) and writes it into {@code smDir} as the
   * snapshot at {@link #TERM}/{@link #INDEX} with its {@code .md5}.
   *
   * @return what the backup held
   */
  static SnapshotFiles.Meta seed(Path backup, Path smDir, Path tmpDir) throws IOException {
    var rows = new ArrayList<SnapshotFiles.Row>();
    var meta = readBackup(backup, rows::add);
    var system = new HashMap<>(meta.system());
    system.remove(MemberToken.SNAPSHOT_NAME);
    // An alarm names a node of the old cluster and the state of its disk; the new nodes measure their own within
    // seconds and raise it again if they are over their quota.
    system.keySet().removeIf(name -> name.startsWith(Alarms.SNAPSHOT_PREFIX));
    place(SnapshotFiles.build(tmpDir, TERM, INDEX, meta.revision(), meta.configuration(), system, rows.size(),
        rows.iterator()), smDir);
    return meta;
  }

  /** Checks the whole backup (SQLite quick check, every row, the key count) while streaming its rows. */
  private static SnapshotFiles.Meta readBackup(Path backup, java.util.function.Consumer<SnapshotFiles.Row> rows)
      throws StorageException {
    try {
      SnapshotFiles.verify(backup);
      return SnapshotFiles.read(backup, rows);
    } catch (StorageException e) {
      throw new StorageException("cannot restore from " + backup + ": " + e.getMessage()
          + "; is it a file written by 'kvsh backup'?", e);
    }
  }

  /** Moves a built snapshot into {@code smDir} at the seed's position, with the {@code .md5} Ratis checks. */
  private static void place(Path built, Path smDir) throws IOException {
    SnapshotManager.place(built, smDir, TERM, INDEX);
  }

  /**
   * A brand-new cluster's node (not joining, nothing on disk): an empty snapshot at {@link #TERM}/{@link #INDEX},
   * so that the cluster's first log entry is at index 1 and has a previous entry. Without it, Ratis 3.3.0 cannot
   * repair a node whose index-0 entry differs from the leader's (see server/DESIGN.md, "The index-0 repair").
   */
  static void genesis(Path smDir, Path tmpDir) throws IOException {
    place(SnapshotFiles.build(tmpDir, TERM, INDEX, 0, "", java.util.Map.of(), 0, java.util.Collections.emptyIterator()),
        smDir);
  }

  /** Whether Ratis's log directory holds no segment: a node that never wrote an entry. */
  static boolean noLogSegments(Path currentDir) throws IOException {
    if (!Files.isDirectory(currentDir)) {
      return true;
    }
    try (var files = Files.list(currentDir)) {
      return files.noneMatch(f -> f.getFileName().toString().startsWith("log_"));
    }
  }

  /**
   * Before anything touches the data directory: refuses a restore into one that already holds a node's data
   * (Raft's log or the mirror), since a restore makes a new node and never overwrites one, and reads the whole
   * backup once, so that a damaged or wrong file stops the node before it creates anything. A data directory
   * holding the {@link #UNFINISHED} marker of a restore from the same file is taken: that restore stopped before
   * the node ever ran, and this one finishes it.
   */
  public static void check(Path dataDir, Path backup) throws IOException {
    var unfinished = unfinished(dataDir);
    if (unfinished.isPresent()) {
      if (!unfinished.get().equals(backup.toAbsolutePath().normalize().toString())) {
        throw new IOException("refusing to restore " + backup + " into " + dataDir + ": a restore from "
            + unfinished.get() + " into it did not finish. Start again with --restore=" + unfinished.get()
            + " to finish that one, or empty " + dataDir + " to restore another file");
      }
      readBackup(backup, r -> { });
      return;
    }
    var held = new ArrayList<String>();
    for (var name : new String[] {"ratis", "kvraft.db"}) {
      var p = dataDir.resolve(name);
      if (Files.isDirectory(p)) {
        try (var entries = Files.list(p)) {
          if (entries.findAny().isPresent()) {
            held.add(name + "/");
          }
        }
      } else if (Files.exists(p)) {
        held.add(name);
      }
    }
    if (!held.isEmpty()) {
      throw new IOException("refusing to restore " + backup + " into " + dataDir + ": it already holds a node's"
          + " data (" + String.join(", ", held) + "). Restore into an empty data.dir, or start without --restore"
          + " to keep that data");
    }
    if (!Files.isRegularFile(backup)) {
      throw new IOException("cannot restore from " + backup + ": no such file");
    }
    readBackup(backup, r -> { });
  }

  /**
   * The marker a restore leaves in {@code data.dir} from before it creates anything until the backup is the node's
   * loaded first snapshot ({@link #begin}, {@link #finished}); it holds the backup's path. A start that fails in
   * between (a port in use, a bad TLS file, a crash) has already created {@code kvraft.db} or {@code ratis/}:
   * without the marker the next {@code --restore} would be refused as "data present", and a start without it would
   * make an empty new node, silently without the backup's data (and, in a cluster restored on every node, at the
   * same position, term 1 index 0, as its restored peers: diverged replicas).
   */
  static final String UNFINISHED = "restore-unfinished";

  /** Writes the {@link #UNFINISHED} marker naming {@code backup}: written, fsynced, renamed, directory fsynced. */
  public static void begin(Path dataDir, Path backup) throws IOException {
    Files.createDirectories(dataDir);
    var marker = dataDir.resolve(UNFINISHED);
    var tmp = dataDir.resolve(UNFINISHED + ".tmp");
    Files.writeString(tmp, backup.toAbsolutePath().normalize() + "\n");
    SnapshotFiles.fsync(tmp);
    Files.move(tmp, marker, java.nio.file.StandardCopyOption.ATOMIC_MOVE,
        java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    SnapshotFiles.fsync(dataDir);
  }

  /** The restore is done (its snapshot is loaded): removes the marker, durably. */
  public static void finished(Path dataDir) throws IOException {
    if (Files.deleteIfExists(dataDir.resolve(UNFINISHED))) {
      SnapshotFiles.fsync(dataDir);
    }
  }

  /**
   * A start without {@code --restore}: refuses a data directory whose restore did not finish, instead of making an
   * empty node there, and says how to finish it.
   */
  public static void refuseUnfinished(Path dataDir) throws IOException {
    var unfinished = unfinished(dataDir);
    if (unfinished.isPresent()) {
      throw new IOException("data.dir " + dataDir + " holds a restore from " + unfinished.get() + " that did not"
          + " finish (the node stopped before the backup became its first snapshot); starting without it would make"
          + " an empty node. Start again with --restore=" + unfinished.get() + " to finish it, or empty " + dataDir
          + " to start a new node");
    }
  }

  private static java.util.Optional<String> unfinished(Path dataDir) throws IOException {
    var marker = dataDir.resolve(UNFINISHED);
    return Files.isRegularFile(marker) ? java.util.Optional.of(Files.readString(marker).strip())
        : java.util.Optional.empty();
  }
}
