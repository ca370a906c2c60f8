package dev.kvraft.server.db;

import com.google.protobuf.ByteString;
import dev.kvraft.storage.EntryKind;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * How Raft's state machine hands its work to the database loop. Implemented by {@link DatabaseLoop}; the raft package
 * sees only this. Every method only queues an event and returns at once; what needs an answer gets a future, which
 * the loop completes on its own thread.
 */
public interface StateMachineSink {
  /** The proposer name this node writes into its log entries (node id plus a per-boot id). */
  String proposer();

  /** One committed entry, in log order; the future completes once it is applied. */
  CompletableFuture<Void> applied(LogPosition at, ByteString payload);

  /** A committed configuration or metadata entry (nothing to apply to the map). */
  CompletableFuture<Void> metaApplied(LogPosition at, EntryKind kind, String summary);

  /** A copy of the state at the applied index, for a snapshot. */
  CompletableFuture<Snapshotter.PointInTime> pointInTime();

  /** Replaces the whole state with a snapshot's. */
  CompletableFuture<Void> install(LogPosition at, long revision, String configuration, KvState.Contents kvs,
      java.util.Map<String, String> system, String why);

  /** A snapshot at {@code index} is on disk. */
  void snapshotTaken(long index);
}
