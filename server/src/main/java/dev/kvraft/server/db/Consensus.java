package dev.kvraft.server.db;

import com.google.protobuf.ByteString;
import java.util.concurrent.CompletableFuture;

/**
 * What the database loop needs from Raft, without Ratis types. Implemented by {@code dev.kvraft.server.raft.RaftNode}.
 *
 * <p>Every method returns at once; futures complete on Raft's threads, and the loop turns their completion into
 * events on its own queue (it never blocks on them).
 */
public interface Consensus {

  /**
   * Proposes one log entry under a call id that is never reused. The future completes when Raft has accepted or
   * refused it; the entry itself comes back through the apply path. A {@link ConsensusException} tells why it failed.
   */
  CompletableFuture<?> propose(long callId, ByteString entry);

  /**
   * A linearizable read barrier: completes once this node has applied every entry committed before the call. The
   * loop answers the reads of the batch when the completion event reaches it.
   */
  CompletableFuture<?> readBarrier(long callId);

  /** True when the proposal with this call id reached the leader's log, so its outcome is unknown if it failed. */
  boolean wasAppended(long callId);

  /** Forgets the call id once its outcome is known. */
  void forget(long callId);

  /** The current term; cheap. */
  long term();

  /** Whether this node is the leader now; cheap. */
  boolean isLeader();

  /** A consistent-enough view of the node's Raft state, for Status, Members and response headers. */
  Info info();

  /** On the leader, each follower and how far its log matches the leader's; empty elsewhere. Cheap. */
  default java.util.List<Follower> followers() {
    return java.util.List.of();
  }

  /** One follower as the leader sees it. */
  record Follower(String id, long matchIndex) {}

  /**
   * Raft's view of this node.
   *
   * @param role        LEADER, FOLLOWER, CANDIDATE, LISTENER or UNKNOWN
   * @param leaderId    empty when no leader is known
   */
  record Info(String role, long term, String leaderId, long commitIndex, long snapshotIndex) {
    public static final Info UNKNOWN = new Info("UNKNOWN", 0, "", 0, 0);
  }
}
