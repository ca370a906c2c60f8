package dev.kvraft.server.db;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * On the leader: tells the followers that the last entries it applied are committed as soon as writes pause, instead
 * of at the next heartbeat.
 *
 * <p>Why: a Raft follower learns the leader's commit index only from the next message the leader sends it. Under load
 * that is the next append, a millisecond later. But after the last write of a burst, or after a lone write, Ratis
 * 3.3.0 sends nothing until its heartbeat, half of {@code raft.election.timeout.min.ms} (500 ms by default) after the
 * follower's last answer; etcd's Raft sends an empty append at once instead. Until then the followers have not
 * applied the write: a watch on a follower got its event about half a second after the put was acknowledged, a
 * stale read there missed it, and at start-up the followers waited that long for the member token before they could
 * serve. So once this node has applied an entry, has no write of its own in flight (a later append would carry the
 * news) and has applied nothing for {@link #QUIET_NANOS}, it asks Ratis for a read index: Ratis answers a leader's
 * read index by sending every follower a heartbeat at once, which carries the commit index. Its answer matters only as
 * the sign that it is no longer in flight: one goes at a time, except that while notices stay unanswered, another may
 * go {@link #STALLED_NANOS} after the last one went, up to {@link #MAX_IN_FLIGHT} unanswered. Ratis 3.3.0's round can
 * wait for the next regular heartbeat (server/DESIGN.md, "Linearizable reads"), although the heartbeat it asked for
 * went out at once, and a later lone write's notice would wait for it.
 *
 * <p>The quiet time keeps one client's back-to-back writes from paying for it: its next write comes well within it,
 * and its append carries the commit index anyway.
 *
 * <p>Owned by the database loop's thread, except {@link #inFlight}, which each notice's completion counts down from a
 * Raft thread.
 */
final class CommitNotice {
  private static final Logger LOG = LoggerFactory.getLogger(CommitNotice.class);
  /** How long after the last apply the leader waits for more writes before it tells the followers. */
  static final long QUIET_NANOS = TimeUnit.MILLISECONDS.toNanos(10);
  /** While notices are unanswered, the next may go this long after the last went (a round answers in a round trip). */
  static final long STALLED_NANOS = TimeUnit.MILLISECONDS.toNanos(50);
  /** Notices in flight at most, stalled ones included: a Ratis that answers none is not asked without end. */
  static final int MAX_IN_FLIGHT = 4;

  private final LongSupplier clock;
  private final CallIds ids;
  /** Wakes the loop (an event on its queue), so that what applied while a notice was in flight is told on time. */
  private final Runnable wake;
  /** The highest applied index the followers were told about (or that was applied before this node led). */
  private long told = Long.MAX_VALUE;
  /** The applied index seen at the last turn, and when it last moved. */
  private long seen = -1;
  private long seenAt;
  /** At the last turn: whether this node's own writes were in flight (their apply wakes the loop). */
  private boolean writesInFlight;
  private final AtomicInteger inFlight = new AtomicInteger();
  /** When the last notice went. */
  private long sentAt;

  CommitNotice(CallIds ids, LongSupplier clock, Runnable wake) {
    this.ids = ids;
    this.clock = clock;
    this.wake = wake;
  }

  /**
   * After each turn of the loop: tells the followers when it is time. {@code appliedIndex} is this node's,
   * {@code writesInFlight} whether it proposed writes whose entries have not applied yet.
   */
  void afterTurn(Consensus raft, long appliedIndex, boolean writesInFlight) {
    long now = clock.getAsLong();
    this.writesInFlight = writesInFlight;
    if (appliedIndex != seen) {
      seen = appliedIndex;
      seenAt = now;
    }
    if (!raft.isLeader()) {
      // What was applied while following is the old leader's business; tell about what applies from now on.
      told = Long.MAX_VALUE;
      return;
    }
    if (told == Long.MAX_VALUE || appliedIndex < told) {
      told = appliedIndex; // began to lead (or a snapshot installed below what was told)
    }
    if (!due(now)) {
      return;
    }
    told = appliedIndex;
    inFlight.incrementAndGet();
    sentAt = now;
    raft.pushCommitIndex(ids.next()).whenComplete((ok, err) -> {
      inFlight.decrementAndGet();
      wake.run();
      if (err != null) {
        LOG.debug("telling the followers the commit index after {} failed ({}); they learn it from the next"
            + " heartbeat", appliedIndex, err.toString());
      }
    });
  }

  /** Something applied since the last notice that nothing else will tell: no write of this node's own is in flight. */
  private boolean untold() {
    return told != Long.MAX_VALUE && seen > told && !writesInFlight;
  }

  /** Something untold, writes have paused long enough, and no notice is in flight but stalled ones. */
  private boolean due(long now) {
    if (!untold() || now - seenAt < QUIET_NANOS) {
      return false;
    }
    int n = inFlight.get();
    return n == 0 || n < MAX_IN_FLIGHT && now - sentAt >= STALLED_NANOS;
  }

  /**
   * How long the loop may wait before {@link #afterTurn} has something to do: at most {@code atMost}. Never zero
   * for a notice that cannot go yet: what it waits for (an apply, a notice's completion) wakes the loop, or comes
   * when this says (the quiet time's end, a notice's stall).
   */
  long nanosUntilDue(long atMost) {
    int n = inFlight.get();
    if (!untold() || n >= MAX_IN_FLIGHT) {
      return atMost;
    }
    long now = clock.getAsLong();
    long wait = seenAt + QUIET_NANOS - now; // differences of nanoTime readings only: no overflow
    if (n > 0) {
      wait = Math.max(wait, sentAt + STALLED_NANOS - now);
    }
    return Math.max(0, Math.min(atMost, wait));
  }
}
