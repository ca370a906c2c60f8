package dev.kvraft.server.db;

import com.google.protobuf.ByteString;
import dev.kvraft.proto.Request;
import dev.kvraft.storage.EntryKind;
import java.util.concurrent.CompletableFuture;

/** Everything that reaches the database loop, in the order it must be handled. */
sealed interface Event {

  /**
   * A validated client request; {@code deadline} is in {@link System#nanoTime()} units; {@code trace} travels with
   * it and belongs to the loop thread from now on.
   */
  record Command(Request request, Replier replier, long deadline, RequestTrace trace) implements Event {}

  /** A committed state-machine entry, in log order; complete {@code done} once applied. */
  record Applied(LogPosition at, ByteString payload, CompletableFuture<?> done) implements Event {}

  /** A committed configuration or metadata entry (nothing to apply to the map), in log order. */
  record MetaApplied(LogPosition at, EntryKind kind, String summary, CompletableFuture<?> done)
      implements Event {}

  /** Raft refused or lost a proposal. */
  record ProposalFailed(long callId, Throwable cause) implements Event {}

  /**
   * A read barrier completed ({@code cause == null}) or failed. {@code readIndex}: the commit index when it began, or
   * {@link ReadPath#UNKNOWN_READ_INDEX} when the leader could not vouch for it then ({@link Consensus#readBarrier}).
   */
  record BarrierDone(long callId, long readIndex, Throwable cause) implements Event {}

  /** The leader answered a forwarded request. */
  record ForwardReplied(dev.kvraft.proto.Response response) implements Event {}

  /** Forwarded requests got no answer; {@code sent} false means they never reached the leader. */
  record ForwardFailed(java.util.List<Long> ids, boolean sent, String reason) implements Event {}

  /** Copy the state for a snapshot, between two applies. */
  record CopyState(CompletableFuture<Snapshotter.PointInTime> done) implements Event {}

  /** Replace the whole state with a snapshot's (at start-up, or a snapshot installed from the leader). */
  record Install(LogPosition at, long revision, String configuration, KvState.Contents kvs,
      java.util.Map<String, String> system, String why, CompletableFuture<Void> done) implements Event {}

  /** A snapshot at {@code index} is on disk: the mirror may prune history below it. */
  record SnapshotTaken(long index) implements Event {}

  /** A client connection closed: its watches end. */
  record ConnectionClosed(WatchSink sink) implements Event {}

  /** Run a task on the loop thread (the idle check at shutdown). */
  record Task(Runnable task) implements Event {}

  /** Stop the loop: fail what is pending, then exit. */
  record Stop() implements Event {}
}
