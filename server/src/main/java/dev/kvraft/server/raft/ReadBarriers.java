package dev.kvraft.server.raft;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.BooleanSupplier;
import java.util.function.LongConsumer;
import java.util.function.LongSupplier;
import org.apache.ratis.protocol.Message;
import org.apache.ratis.protocol.RaftClientReply;
import org.apache.ratis.protocol.RaftClientRequest;

/**
 * The leader's read barriers: each completes once this node, still the leader after the barrier began, has applied
 * everything committed when it began.
 *
 * <p>Ratis 3.3.0's read index is not enough on its own: its leader keys each round of heartbeats by the commit index,
 * and answers at once, with no round at all, a read index at or below the highest commit index a round ever confirmed
 * ({@code ReadIndexHeartbeats.addAppendEntriesListener}), or joins a round already under way for the same index. So
 * while nothing new commits, a leader cut off or paused since its last round answered from its old state after the
 * others had elected a new leader and committed writes (ClusterProcessTest's paused old leader, seen once in CI). So
 * when the commit index has not passed the highest one a round of ours may have been keyed at ({@link #keyBound}),
 * the barrier commits an empty entry instead: a majority taking it after the barrier began is the proof of leadership
 * a fresh round would have been (an entry of a deposed leader's term cannot commit), and the loop has applied
 * everything before it once it has been applied. Otherwise the round Ratis starts is keyed above every earlier one, so
 * it is a fresh one. A group whose only voter is this node is exempt: no other node can lead, and Ratis's read index
 * is then its commit index.
 *
 * <p>Who owns what: {@link #keyBound} is the database loop's thread's (every barrier and commit notice is asked for
 * there); {@link #emptyEntries} is counted on Ratis's completion threads and read by anyone.
 */
final class ReadBarriers {
  /** How a barrier reaches Ratis: the node's client request under the loop's call id. */
  @FunctionalInterface
  interface Submitter {
    CompletableFuture<RaftClientReply> submit(long callId, Message message, RaftClientRequest.Type type);
  }

  private final Submitter submitter;
  /** Whether this node is the group's only voter, with no change of the configuration under way. */
  private final BooleanSupplier soleVoter;
  /** Forgets an empty entry's call id, which the state machine noted when it was appended and nobody asks about. */
  private final LongConsumer forget;
  /** The highest commit index a read-index round of ours may have been keyed at; the loop's thread only. */
  private long keyBound = -1;
  private final LongAdder emptyEntries = new LongAdder();

  ReadBarriers(Submitter submitter, BooleanSupplier soleVoter, LongConsumer forget) {
    this.submitter = submitter;
    this.soleVoter = soleVoter;
    this.forget = forget;
  }

  /**
   * A barrier on a leader whose commit index {@code commitIndex} reads: a fresh read-index round, or an empty entry
   * where a round would not be fresh.
   */
  CompletableFuture<?> barrier(LongSupplier commitIndex, long callId) {
    if (commitIndex.getAsLong() <= keyBound && !soleVoter.getAsBoolean()) {
      return submitter.submit(callId, Message.EMPTY, RaftClientRequest.writeRequestType()).whenComplete((r, e) -> {
        forget.accept(callId);
        if (e == null) {
          emptyEntries.increment();
        }
      });
    }
    return round(commitIndex, callId);
  }

  /**
   * Ratis's read index: a round of heartbeats, or none (see the class comment), and the bound it moves. On its own
   * only where nobody reads by it (the commit notice, which wants the heartbeats it sends).
   */
  CompletableFuture<RaftClientReply> round(LongSupplier commitIndex, long callId) {
    var reply = submitter.submit(callId, Message.EMPTY, RaftClientRequest.readRequestType());
    // Ratis keyed the round at its commit index while submit ran: at most the commit index now.
    keyBound = Math.max(keyBound, commitIndex.getAsLong());
    return reply;
  }

  /** Empty entries barriers committed, because nothing had committed since the last round. */
  long emptyEntries() {
    return emptyEntries.sum();
  }
}
