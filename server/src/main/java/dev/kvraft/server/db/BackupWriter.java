package dev.kvraft.server.db;

import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;

/**
 * Writes backups off the database loop's thread. Implemented by {@code dev.kvraft.server.backup.BackupFiles}, which
 * also serves their bytes to the client that asked.
 */
public interface BackupWriter {

  /** A backup file ready to be read. */
  record Made(String id, long bytes, byte[] sha256, long term, long index, long revision, long keyCount) {}

  /** Thrown (in the future) when this node already holds as many backups as it allows. */
  final class Full extends RuntimeException {
    public Full(String message) {
      super(message, null, false, false);
    }
  }

  /**
   * Loop thread: when there is room, takes the copy {@code state} makes now and writes it in the background;
   * otherwise fails with {@link Full} without copying anything.
   */
  CompletableFuture<Made> write(Supplier<Snapshotter.PointInTime> state);
}
