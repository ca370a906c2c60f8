package dev.kvraft.server;

import dev.kvraft.proto.DataSize;
import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;

/**
 * What a node keeps on disk, by kind: Raft's log segments, the SQLite mirror, snapshots, and everything under
 * {@code data.dir} but {@code backup/} (the copies made for clients, deleted once read or after a minute unread). {@link #refresh} walks the directory (on the watchdog thread, every few seconds); {@link #latest}
 * is the last measurement, for Status on the database loop, which must not touch the disk.
 *
 * <p>Thread-safety: one writer ({@link #refresh}), any readers; the measurement is an immutable message behind a
 * volatile field.
 */
final class DataSizes {
  /** Where {@code BackupFiles} keeps backups until their client has read them: not counted. */
  static final String BACKUP_DIR = "backup";

  private final Path dataDir;
  private final Path backupDir;
  private volatile DataSize latest = DataSize.getDefaultInstance();

  DataSizes(Path dataDir) {
    this.dataDir = dataDir;
    this.backupDir = dataDir.resolve(BACKUP_DIR);
  }

  DataSize latest() {
    return latest;
  }

  /** Measures now. A file that vanishes meanwhile (a purged segment) is skipped. */
  void refresh() {
    var sizes = new long[4];
    try {
      Files.walkFileTree(dataDir, new SimpleFileVisitor<>() {
        @Override
        public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) {
          // Backups waiting for their client are transient copies of the store: counted, one daily backup could
          // push data.dir past storage.quota.bytes and raise the NOSPACE alarm, which stays until disarmed by hand.
          // The disk reserve still sees the space they take.
          return dir.equals(backupDir) ? FileVisitResult.SKIP_SUBTREE : FileVisitResult.CONTINUE;
        }

        @Override
        public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
          long size = attrs.size();
          var name = file.getFileName().toString();
          var parent = file.getParent() == null ? "" : file.getParent().getFileName().toString();
          if (parent.equals("current") && name.startsWith("log_")) {
            sizes[0] += size;
          } else if (parent.equals("sm") && name.startsWith("snapshot.")) {
            sizes[2] += size;
          } else if (name.startsWith("kvraft.db") && file.getParent().equals(dataDir)) {
            sizes[1] += size;
          }
          sizes[3] += size;
          return FileVisitResult.CONTINUE;
        }

        @Override
        public FileVisitResult visitFileFailed(Path file, IOException e) {
          return FileVisitResult.CONTINUE;
        }
      });
    } catch (IOException e) {
      return; // keep the previous measurement
    }
    latest = DataSize.newBuilder().setRaftLogBytes(sizes[0]).setMirrorBytes(sizes[1]).setSnapshotBytes(sizes[2])
        .setTotalBytes(sizes[3]).build();
  }
}
