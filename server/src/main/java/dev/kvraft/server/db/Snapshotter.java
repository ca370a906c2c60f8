package dev.kvraft.server.db;

import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Writes snapshots off the database loop's thread. Implemented by {@code dev.kvraft.server.raft.SnapshotManager},
 * which also registers them with Ratis.
 */
public interface Snapshotter {

  /**
   * The state at exactly {@code index}: a copy the loop made between two applies.
   *
   * @param copyNanos how long the copy paused the loop
   */
  record PointInTime(long term, long index, long revision, String configuration, List<KvState.Entry> kvs,
      long copyNanos, java.util.Map<String, String> system) {
    /** The key-values as a snapshot file's rows. */
    public java.util.Iterator<dev.kvraft.storage.SnapshotFiles.Row> rows() {
      return kvs.stream().map(e -> new dev.kvraft.storage.SnapshotFiles.Row(e.key(), e.value(), e.createRevision(),
          e.modRevision(), e.version())).iterator();
    }
  }

  /** A snapshot on disk. */
  record Written(long term, long index, long revision, long keyCount, String file, long bytes, long copyNanos,
      long writeNanos) {}

  /** Writes the snapshot in the background; the future completes once it is on disk and registered. */
  CompletableFuture<Written> write(PointInTime state);
}
