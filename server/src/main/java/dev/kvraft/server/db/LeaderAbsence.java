package dev.kvraft.server.db;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * The {@code require_leader} clock: whether this node knows a leader, since when it has not, and whether that has
 * lasted longer than the bound past which {@link Watches} ends the watches that require one (server/DESIGN.md,
 * "Watch"). Sampled once per tick from Raft's cheap view ({@link Consensus#leaderKnown}), never by waiting on Raft;
 * between ticks it answers as of the last one.
 *
 * <p>Owned by the database loop's thread: it samples ({@link #tick}) and asks ({@link #pastBound}, {@link #reason});
 * nothing here is read from any other thread.
 */
final class LeaderAbsence {
  /**
   * A {@code require_leader} watch ends once this node has known no leader for this many maximum election timeouts
   * (server/DESIGN.md, "Watch": an ordinary election, even with a split vote, leaves a node without a leader for
   * about one or two; etcd's bound is three election timeouts too).
   */
  static final int ELECTION_TIMEOUTS = 3;

  private final String nodeId;
  /** Whether Raft knows a leader now (cheap; read once per tick). */
  private final BooleanSupplier leaderKnown;
  /** How long without a leader ends the {@code require_leader} watches. */
  private final long boundNanos;
  /** As of the last tick: no leader was known then, and since when ({@link System#nanoTime} of that tick). */
  private boolean leaderless;
  private long leaderlessSince;
  /** As of the last tick: how long no leader had been known (0 while one is). */
  private long leaderlessNanos;

  LeaderAbsence(String nodeId, BooleanSupplier leaderKnown, Duration bound) {
    this.nodeId = nodeId;
    this.leaderKnown = leaderKnown;
    this.boundNanos = bound.toNanos();
  }

  /** Samples whether Raft knows a leader at {@code now} (a {@link System#nanoTime}); once per tick. */
  void tick(long now) {
    if (leaderKnown.getAsBoolean()) {
      leaderless = false;
      leaderlessNanos = 0;
      return;
    }
    if (!leaderless) {
      leaderless = true;
      leaderlessSince = now;
    }
    leaderlessNanos = now - leaderlessSince;
  }

  /** As of the last tick: whether no leader has been known for longer than the bound (at the bound itself, not yet). */
  boolean pastBound() {
    return leaderlessNanos > boundNanos;
  }

  /** As of the last tick: what a cancel or refusal says, naming the node, how long, and the bound. */
  String reason() {
    return "node " + nodeId + " has known no leader for " + TimeUnit.NANOSECONDS.toMillis(leaderlessNanos)
        + " ms (the bound is " + TimeUnit.NANOSECONDS.toMillis(boundNanos) + " ms): it may be cut off from the"
        + " majority";
  }
}
