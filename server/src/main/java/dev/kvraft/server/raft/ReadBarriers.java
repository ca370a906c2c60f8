package dev.kvraft.server.raft;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.BooleanSupplier;
import java.util.function.LongConsumer;
import org.apache.ratis.protocol.Message;
import org.apache.ratis.protocol.RaftClientReply;
import org.apache.ratis.protocol.RaftClientRequest;

/**
 * The leader's read barriers: each completes once this node, still the leader after the barrier began, has applied
 * everything committed when it began. A barrier commits an empty entry: a majority taking an entry of this leader's
 * term after the barrier began is the proof of leadership (an entry of a deposed leader's term cannot commit), and the
 * loop has applied everything before it once it has been applied. A group whose only voter is this node asks Ratis's
 * read index instead, which is then its commit index with no round: no other node can lead.
 *
 * <p>Why not Ratis 3.3.0's read index, a round of heartbeats:
 * <ul>
 *   <li>It is not always a check. Its leader keys each round by the commit index, and answers at once, with no round,
 *       a read index at or below the highest commit index a round ever confirmed
 *       ({@code ReadIndexHeartbeats.addAppendEntriesListener}): while nothing commits, a leader cut off or paused
 *       since its last round answered from its old state after the others had elected a new leader and committed
 *       writes (ClusterProcessTest's paused old leader, seen once in CI; CutOffLeaderReadTest).</li>
 *   <li>It can wait for the next regular heartbeat, half the minimum election timeout (500 ms by default). A round
 *       counts only replies to heartbeats sent after it read the appender's call id, which it reads after asking the
 *       appender for a heartbeat; the appender also clears that request after building its next message. A
 *       heartbeat sent in between does not count and no other is asked for. Measured: one client's sequential
 *       linearizable gets on a three-node leader, p99 about 504 ms when rounds and entries alternated (as this class
 *       did until 2026-12-07: a round whenever something had committed since the last one), 10.4–10.9 ms with
 *       entries only.</li>
 * </ul>
 * An entry costs a little more under heavy reads (it is written and fsynced on a majority, and mirrored to
 * {@code kvraft.db}), about 5% fewer linearizable gets/s in BENCHMARKS.md's runs; the loop keeps one barrier in flight
 * and sends every read that came meanwhile with the next ({@code db.ReadPath}), so they are far fewer than the
 * reads.
 *
 * <p>{@link #round} remains for the commit notice, which wants the heartbeats a round sends (they carry the commit
 * index) and nothing of its answer.
 *
 * <p>Who owns what: no state but {@link #emptyEntries}, counted on Ratis's completion threads and read by anyone.
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
  private final LongAdder emptyEntries = new LongAdder();

  ReadBarriers(Submitter submitter, BooleanSupplier soleVoter, LongConsumer forget) {
    this.submitter = submitter;
    this.soleVoter = soleVoter;
    this.forget = forget;
  }

  /** A barrier on a leader: an empty entry, or Ratis's read index where this node is the only voter. */
  CompletableFuture<?> barrier(long callId) {
    if (soleVoter.getAsBoolean()) {
      return round(callId);
    }
    return submitter.submit(callId, Message.EMPTY, RaftClientRequest.writeRequestType()).whenComplete((r, e) -> {
      forget.accept(callId);
      if (e == null) {
        emptyEntries.increment();
      }
    });
  }

  /**
   * Ratis's read index: a round of heartbeats, or none (see the class comment). On its own only where nobody reads by
   * it (the commit notice, which wants the heartbeats it sends), and for a group's only voter.
   */
  CompletableFuture<RaftClientReply> round(long callId) {
    return submitter.submit(callId, Message.EMPTY, RaftClientRequest.readRequestType());
  }

  /** Empty entries read barriers committed. */
  long emptyEntries() {
    return emptyEntries.sum();
  }
}
