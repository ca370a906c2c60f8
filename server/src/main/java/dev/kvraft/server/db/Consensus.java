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
   * A linearizable read barrier: completes once this node, still the leader after the call, has applied every entry
   * committed before the call. The loop answers the reads of the batch when the completion event reaches it.
   *
   * <p>Its value is the read index a follower's {@code ReadIndex} is answered with: the commit index when the call
   * began, at or above every entry any client could have seen committed before it. Null when this leader could not
   * vouch for it (it had not yet applied an entry of its own term, so entries of earlier terms may be committed above
   * it; or its term changed before the barrier completed): the loop then answers with what it has applied when the
   * barrier completes.
   */
  CompletableFuture<Long> readBarrier(long callId);

  /**
   * On the leader: tells the followers its commit index now rather than with the next append or heartbeat, so that
   * they apply what it just committed ({@link CommitNotice}). Completes when that is done or failed; nothing waits for
   * it. By default, nothing to tell.
   */
  default CompletableFuture<?> pushCommitIndex(long callId) {
    return CompletableFuture.completedFuture(null);
  }

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

  /**
   * Whether this node's own Raft configuration names it, as a voter or a learner (in the configuration being moved
   * to, during a change): false on a node started with {@code --join} until a member add reaches it, and on a node
   * being removed. The leader takes forwards and read-index requests only from the members its configuration names.
   * Cheap, for the database loop's every turn. By default, true.
   */
  default boolean inOwnConfiguration() {
    return true;
  }

  /**
   * Whether this node knows a leader now (itself, or the one it follows); cheap, for the database loop's every tick.
   * False on a candidate, on a follower whose election timeout passed without a heartbeat, on a leader Ratis
   * stepped down for want of a majority's answers, and on a node without a follower timer that its leader has not
   * reached (no appendEntries handled) for a maximum election timeout: a learner never stands for election, nor does
   * a voter Ratis runs without a follower timer (a --join node promoted by the leader that added it, still STARTING),
   * so they would keep their leader's id.
   */
  default boolean leaderKnown() {
    return !info().leaderId().isEmpty();
  }

  /**
   * On the leader: hands leadership to {@code targetId} and completes once it leads (or fails within
   * {@code timeoutMs}). Writes proposed meanwhile fail UNAVAILABLE, which the loop retries.
   */
  default CompletableFuture<?> transferLeadership(long callId, String targetId, long timeoutMs) {
    return CompletableFuture.failedFuture(new ConsensusException(dev.kvraft.proto.Error.Code.UNAVAILABLE,
        "this node cannot transfer leadership", ""));
  }

  /** On the leader, each follower and how far its log matches the leader's; empty elsewhere. Cheap. */
  default java.util.List<Follower> followers() {
    return java.util.List.of();
  }

  /**
   * On the leader, the voting follower whose log is furthest ahead among those that answered within
   * {@code heardWithinMs}: where leadership goes when no one is named (a follower that is down cannot take it, nor a
   * learner, nor a node still followed after its removal).
   */
  default java.util.Optional<Follower> mostUpToDateFollower(long heardWithinMs) {
    return mostUpToDateFollower(heardWithinMs, "");
  }

  /**
   * {@link #mostUpToDateFollower(long)} with {@code excludedId} left out (a promoted node, which cannot lead yet);
   * {@code ""} leaves out no one.
   */
  default java.util.Optional<Follower> mostUpToDateFollower(long heardWithinMs, String excludedId) {
    var voters = members().stream().filter(Member::voter).map(Member::id).collect(java.util.stream.Collectors.toSet());
    return followers().stream().filter(f -> f.lastHeardMs() <= heardWithinMs && !f.id().equals(excludedId)
            && (voters.isEmpty() || voters.contains(f.id())))
        .max(java.util.Comparator.comparingLong(Follower::matchIndex));
  }

  /** One follower as the leader sees it: how far its log matches, and how long ago it last answered. */
  record Follower(String id, long matchIndex, long lastHeardMs) {}

  /**
   * One member of the current Raft configuration: its id, addresses and whether it votes (else a learner).
   * {@code clientAddress} is empty when the configuration does not say it and the cluster setting does not name it.
   */
  record Member(String id, String clientAddress, String peerAddress, boolean voter) {}

  /**
   * The members of the current configuration, voters first, in id order; before Raft runs, the cluster setting's.
   * Cheap (cached until the configuration changes).
   */
  default java.util.List<Member> members() {
    return java.util.List.of();
  }

  /**
   * On the leader: makes the configuration exactly {@code voters} and {@code learners}, if it still is
   * {@code expected} (compare-and-set: a change racing another fails with CONFLICT). Completes once the new
   * configuration is committed, new members having caught up first; fails, leaving the configuration as it was,
   * when that does not happen within {@code timeoutMs}.
   */
  default CompletableFuture<?> changeMembers(long callId, java.util.List<Member> expected,
      java.util.List<Member> voters, java.util.List<Member> learners, long timeoutMs) {
    return CompletableFuture.failedFuture(new ConsensusException(dev.kvraft.proto.Error.Code.UNAVAILABLE,
        "this node cannot change the membership", ""));
  }

  /**
   * Raft before it is bound or started: proposes and reads nothing (UNAVAILABLE, "still starting"), leads nothing,
   * knows no leader. The database loop starts with it, so it never checks for a missing Raft.
   */
  static Consensus notStarted(String nodeId) {
    return new Consensus() {
      private <T> CompletableFuture<T> refused() {
        return CompletableFuture.failedFuture(new ConsensusException(dev.kvraft.proto.Error.Code.UNAVAILABLE,
            "node " + nodeId + " is still starting; retry shortly", ""));
      }

      @Override
      public CompletableFuture<?> propose(long callId, ByteString entry) {
        return refused();
      }

      @Override
      public CompletableFuture<Long> readBarrier(long callId) {
        return refused();
      }

      @Override
      public boolean wasAppended(long callId) {
        return false;
      }

      @Override
      public void forget(long callId) { }

      @Override
      public long term() {
        return 0;
      }

      @Override
      public boolean isLeader() {
        return false;
      }

      @Override
      public Info info() {
        return Info.UNKNOWN;
      }
    };
  }

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
