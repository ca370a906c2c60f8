package dev.kvraft.server.raft;

import dev.kvraft.server.db.MemberToken;
import dev.kvraft.storage.SnapshotFiles;
import dev.kvraft.storage.StorageException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import org.apache.ratis.util.MD5FileUtil;

/**
 * Restore: makes a backup file the first snapshot of a brand-new node, before Ratis reads its log. The backup's
 * rows and revision are kept; its Raft position is not: it becomes the snapshot at {@link #TERM}/{@link #INDEX},
 * the same on every node restored from any backup, so that a new cluster whose nodes were all restored from the same
 * file starts from identical logs, and a node added later gets the snapshot from the leader like any lagging one.
 *
 * <p>Why a fixed position: the new cluster's terms start again at 1, and a log whose snapshot says term 7 would hold
 * entries of term 1 after it, which Raft (and Ratis's checks) forbid. Term {@value #TERM} index {@value #INDEX} is
 * the position before the new cluster's first entry. The member token is dropped (a backup has none; the new
 * cluster's first leader makes its own). Stateless.
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
    var md5 = MD5FileUtil.computeMd5ForFile(built.toFile());
    var file = SnapshotFiles.moveInto(built, smDir, TERM, INDEX);
    MD5FileUtil.saveMD5File(file.toFile(), md5);
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
   * backup once, so that a damaged or wrong file stops the node before it creates anything.
   */
  public static void check(Path dataDir, Path backup) throws IOException {
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
}
