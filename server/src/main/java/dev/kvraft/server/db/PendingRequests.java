package dev.kvraft.server.db;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;

/**
 * Every client command the database loop took and has not answered, by what it waits for: its proposal to commit,
 * its read barrier (or the next one, while one is under way), the leader's answer to a forward or to a read-index
 * call, this node applying up to a read index, the leader's next lease checkpoint (a keep-alive it holds), or its
 * turn to be routed again. One place lists them all, so expiry and shutdown cannot forget a table (as etcd's
 * {@code pkg/wait} and TiKV's {@code ReadIndexQueue} keep theirs).
 *
 * <p>Not thread-safe: owned by the database loop's thread, like everything it holds.
 */
final class PendingRequests {
  /** Writes this node proposed, by call id. */
  private final Map<Long, Pending> proposals = new LinkedHashMap<>();
  /** Linearizable reads waiting on this leader's read barrier, by call id. */
  private final Map<Long, Pending> barriers = new LinkedHashMap<>();
  /**
   * Linearizable reads that came while this leader's barrier was under way, one entry per loop turn (by a counter of
   * their own): they go out together with the next barrier ({@link ReadPath#flush}).
   */
  private final Map<Long, Pending> heldReads = new LinkedHashMap<>();
  private long heldTurns;
  /** Writes forwarded to the leader, one command each, by forward id. */
  private final Map<Long, Pending> forwardedWrites = new LinkedHashMap<>();
  /** Reads waiting on the leader's read index, by forward id. */
  private final Map<Long, Pending> readIndexCalls = new LinkedHashMap<>();
  /** Reads waiting for this node to apply up to the leader's read index, lowest index first. */
  private final PriorityQueue<Awaiting> awaitingApply = new PriorityQueue<>(Comparator.comparingLong(Awaiting::index));
  /** Commands refused without being applied (no leader yet), routed again at {@code at}. */
  private final ArrayDeque<Retry> retries = new ArrayDeque<>();
  /** Lease keep-alives the leader holds for its next checkpoint entry ({@link Leases}), in arrival order. */
  private final List<Event.Command> heldKeepAlives = new ArrayList<>();

  private record Awaiting(long index, Pending pending) {}

  private record Retry(List<Event.Command> commands, long at, int writes) {}

  /** Writes (leader work) among the waiting retries. */
  private int waitingWrites;

  /** What {@link #expire} took out: writes whose outcome is unknown, reads that were not served. */
  record Expired(List<Long> proposalIds, List<Pending> writes, List<Pending> reads) {
    boolean isEmpty() {
      return writes.isEmpty() && reads.isEmpty();
    }
  }

  /** What {@link #drain} took out at shutdown. */
  record Drained(List<Event.Command> mayHaveApplied, List<Event.Command> notApplied) {}

  void proposed(long callId, Pending p) {
    proposals.put(callId, p);
  }

  /** Whether a write this node proposed has not applied (or expired) yet. */
  boolean proposalsInFlight() {
    return !proposals.isEmpty();
  }

  /** The proposal's commands, removed; null when it was already answered or expired. */
  Pending proposalDone(long callId) {
    return proposals.remove(callId);
  }

  void barrierSent(long callId, Pending p) {
    barriers.put(callId, p);
  }

  /** Whether a read barrier is under way (its reads not yet answered, failed or expired). */
  boolean barrierInFlight() {
    return !barriers.isEmpty();
  }

  /** Holds a turn's linearizable reads for the next barrier (one is under way). */
  void holdForBarrier(List<Event.Command> reads) {
    heldReads.put(heldTurns++, Pending.of(reads));
  }

  boolean holdsReads() {
    return !heldReads.isEmpty();
  }

  /** The held reads still waiting (not expired), in the order they came; none held after. */
  List<Event.Command> takeHeldReads() {
    if (heldReads.isEmpty()) {
      return List.of();
    }
    var all = new ArrayList<Event.Command>();
    heldReads.values().forEach(p -> all.addAll(p.commands()));
    heldReads.clear();
    return all;
  }

  Pending barrierDone(long callId) {
    return barriers.remove(callId);
  }

  void forwarded(long forwardId, Pending p) {
    forwardedWrites.put(forwardId, p);
  }

  Pending forwardDone(long forwardId) {
    return forwardedWrites.remove(forwardId);
  }

  void readIndexSent(long forwardId, Pending p) {
    readIndexCalls.put(forwardId, p);
  }

  /** The deadline of a read-index call still waiting, for the timeout sent to the leader. */
  long readIndexDeadline(long forwardId) {
    var p = readIndexCalls.get(forwardId);
    return p == null ? Long.MAX_VALUE : p.deadline();
  }

  Pending readIndexDone(long forwardId) {
    return readIndexCalls.remove(forwardId);
  }

  void awaitApplied(long index, Pending p) {
    awaitingApply.add(new Awaiting(index, p));
  }

  /** The reads whose read index is now applied, removed, in index order. */
  List<Pending> appliedUpTo(long appliedIndex) {
    if (awaitingApply.isEmpty() || awaitingApply.peek().index() > appliedIndex) {
      return List.of();
    }
    var ready = new ArrayList<Pending>();
    while (!awaitingApply.isEmpty() && awaitingApply.peek().index() <= appliedIndex) {
      ready.add(awaitingApply.poll().pending());
    }
    return ready;
  }

  void retryAt(List<Event.Command> commands, long at) {
    int writes = (int) commands.stream()
        .filter(c -> dev.kvraft.proto.CommandKind.of(c.request()).leaderWork()).count();
    retries.add(new Retry(List.copyOf(commands), at, writes));
    waitingWrites += writes;
  }

  /** The leader holds a keep-alive until its next lease checkpoint entry. */
  void holdKeepAlive(Event.Command c) {
    heldKeepAlives.add(c);
  }

  boolean keepAlivesHeld() {
    return !heldKeepAlives.isEmpty();
  }

  /** The held keep-alives, removed, in arrival order: to checkpoint them, or to answer them. */
  List<Event.Command> takeHeldKeepAlives() {
    if (heldKeepAlives.isEmpty()) {
      return List.of();
    }
    var taken = List.copyOf(heldKeepAlives);
    heldKeepAlives.clear();
    return taken;
  }

  /** Whether any write waits for a retry. */
  boolean writeWaits() {
    return waitingWrites > 0;
  }

  /** When the newest waiting retry is due: a retry queued for then keeps the queue in time order. */
  long lastRetryAt() {
    return retries.getLast().at();
  }

  /**
   * How long the loop may wait for its next event before a retry comes due: at most {@code atMost}, zero when one is
   * due already. The retries are queued in time order, so the first is the next one due.
   */
  long nanosUntilFirstRetry(long now, long atMost) {
    if (retries.isEmpty()) {
      return atMost;
    }
    return Math.max(0, Math.min(atMost, retries.peek().at() - now));
  }

  /** Commands whose retry time came, removed, oldest first. */
  List<Event.Command> dueRetries(long now) {
    if (retries.isEmpty() || retries.peek().at() - now > 0) {
      return List.of();
    }
    var due = new ArrayList<Event.Command>();
    while (!retries.isEmpty() && retries.peek().at() - now <= 0) {
      var r = retries.poll();
      due.addAll(r.commands());
      waitingWrites -= r.writes();
    }
    return due;
  }

  /** Nothing is waiting. */
  boolean isEmpty() {
    return proposals.isEmpty() && barriers.isEmpty() && heldReads.isEmpty() && forwardedWrites.isEmpty()
        && readIndexCalls.isEmpty() && awaitingApply.isEmpty() && retries.isEmpty() && heldKeepAlives.isEmpty();
  }

  /**
   * Takes out every command whose deadline passed, each by its own deadline: a call (a proposal, a barrier, a
   * read-index call) whose other commands are still in time keeps waiting for them. Waiting retries are not expired
   * here: a retry is never scheduled past its command's deadline, and when routed again the command gets its answer.
   * A held keep-alive counts as a write: the leader extended the lease's deadline when it took it, so whether the
   * lease was renewed is unknown.
   */
  Expired expire(long now) {
    var ids = new ArrayList<Long>();
    var writes = new ArrayList<Pending>();
    var reads = new ArrayList<Pending>();
    expire(proposals, now, writes, ids);
    expire(forwardedWrites, now, writes, null);
    expire(barriers, now, reads, null);
    expire(heldReads, now, reads, null);
    expire(readIndexCalls, now, reads, null);
    var stillWaiting = new ArrayList<Awaiting>();
    for (var it = awaitingApply.iterator(); it.hasNext(); ) {
      var a = it.next();
      var split = a.pending().expire(now);
      if (split != null) {
        it.remove();
        reads.add(split.expired());
        if (split.left() != null) {
          stillWaiting.add(new Awaiting(a.index(), split.left()));
        }
      }
    }
    awaitingApply.addAll(stillWaiting);
    heldKeepAlives.removeIf(c -> {
      if (c.deadline() - now <= 0) {
        writes.add(Pending.of(List.of(c)));
        return true;
      }
      return false;
    });
    return new Expired(ids, writes, reads);
  }

  /**
   * Takes out of {@code table} the commands whose deadline passed; a call some of whose commands are still in time
   * keeps waiting with those (only a call with none left is removed, and named in {@code ids}).
   */
  private static void expire(Map<Long, Pending> table, long now, List<Pending> into, List<Long> ids) {
    for (var it = table.entrySet().iterator(); it.hasNext(); ) {
      var e = it.next();
      var split = e.getValue().expire(now);
      if (split == null) {
        continue;
      }
      into.add(split.expired());
      if (split.left() != null) {
        e.setValue(split.left());
        continue;
      }
      it.remove();
      if (ids != null) {
        ids.add(e.getKey());
      }
    }
  }

  /**
   * Takes out everything, at shutdown: proposed and forwarded writes may have applied, the rest did not (a held
   * keep-alive never reached the log).
   */
  Drained drain() {
    var maybe = new ArrayList<Event.Command>();
    proposals.values().forEach(p -> maybe.addAll(p.commands()));
    forwardedWrites.values().forEach(p -> maybe.addAll(p.commands()));
    var not = new ArrayList<Event.Command>();
    barriers.values().forEach(p -> not.addAll(p.commands()));
    heldReads.values().forEach(p -> not.addAll(p.commands()));
    readIndexCalls.values().forEach(p -> not.addAll(p.commands()));
    awaitingApply.forEach(a -> not.addAll(a.pending().commands()));
    retries.forEach(r -> not.addAll(r.commands()));
    not.addAll(heldKeepAlives);
    proposals.clear();
    forwardedWrites.clear();
    barriers.clear();
    heldReads.clear();
    readIndexCalls.clear();
    awaitingApply.clear();
    retries.clear();
    heldKeepAlives.clear();
    waitingWrites = 0;
    return new Drained(maybe, not);
  }
}
