package dev.kvraft.server.db;

import com.google.protobuf.ByteString;
import dev.kvraft.storage.EntryKind;

/**
 * Receives every applied entry, in log order, on the database loop's thread: the SQLite mirror ({@link MirrorObserver}).
 * Must not block.
 */
public interface ApplyObserver {
  ApplyObserver NONE = new ApplyObserver() {};

  /** Before the entry's ops are applied; the returned listener observes each of them. */
  default KvState.OpListener beginEntry(LogPosition at, EntryKind kind, String proposer, int opCount,
      String summary, ByteString payload) {
    return KvState.OpListener.NONE;
  }

  /** The entry just begun installs a snapshot at store {@code revision}. */
  default void installed(long revision) {}

  /** After the entry was applied to the map. */
  default void endEntry(long index) {}

  /**
   * After each batch of events the loop handled: hands what was observed since the last call on. (The SQLite
   * mirror then writes it on its own thread and commits at most every {@link MirrorObserver#COMMIT_EVERY_MS} ms,
   * not once per batch.)
   */
  default void flush() {}

  /** A snapshot at {@code index} is on disk: older log history may be pruned. */
  default void snapshotTaken(long index) {}

  /** History before {@code revision} was compacted away (a replicated Compact applied). */
  default void compacted(long revision) {}

  default void close() {}
}
