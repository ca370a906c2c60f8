package dev.kvraft.server.db;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/**
 * {@link LeaderAbsence} driven directly, the test's clock handing each tick its time. What it ends is
 * {@link WatchesTest}'s.
 */
class LeaderAbsenceTest {
  private static final Duration BOUND = Duration.ofSeconds(3);
  private static final long MS = TimeUnit.MILLISECONDS.toNanos(1);
  /** What Raft says: whether this node knows a leader. */
  private final AtomicBoolean leader = new AtomicBoolean(true);
  private final LeaderAbsence absence = new LeaderAbsence("n1", leader::get, BOUND);

  /**
   * Past the bound only once no leader has been known for longer than it: not while a leader is known, however long,
   * not at the bound itself, and not when a leader came back within it (the count then starts again from the next
   * tick that finds none).
   */
  @Test
  void pastTheBoundOnlyOnceNoLeaderWasKnownForLongerThanIt() {
    long t = System.nanoTime();
    absence.tick(t);
    absence.tick(t + TimeUnit.SECONDS.toNanos(60));
    assertFalse(absence.pastBound(), "a leader known all along: a minute changes nothing");

    leader.set(false);
    long lost = t + TimeUnit.SECONDS.toNanos(61);
    absence.tick(lost);
    absence.tick(lost + BOUND.toNanos() - 1);
    assertFalse(absence.pastBound(), "just before the bound");
    leader.set(true);
    absence.tick(lost + BOUND.toNanos() + 1);
    assertFalse(absence.pastBound(), "a leader came back within the bound");
    assertTrue(absence.reason().startsWith("node n1 has known no leader for 0 ms"), absence.reason());

    leader.set(false);
    long lostAgain = lost + TimeUnit.SECONDS.toNanos(10);
    absence.tick(lostAgain);
    absence.tick(lostAgain + BOUND.toNanos());
    assertFalse(absence.pastBound(), "at the bound itself, not yet");
    absence.tick(lostAgain + BOUND.toNanos() + MS);
    assertTrue(absence.pastBound(), "past the bound, counted from the tick that first found no leader");
    assertEquals("node n1 has known no leader for 3001 ms (the bound is 3000 ms): it may be cut off from the"
        + " majority", absence.reason());

    leader.set(true);
    absence.tick(lostAgain + TimeUnit.SECONDS.toNanos(20));
    assertFalse(absence.pastBound(), "a leader again");
  }

  /** Between ticks it answers as of the last one: Raft is asked only when it ticks. */
  @Test
  void answersAsOfTheLastTick() {
    long t = System.nanoTime();
    leader.set(false);
    absence.tick(t);
    absence.tick(t + BOUND.toNanos() + MS);
    leader.set(true);
    assertTrue(absence.pastBound(), "still past the bound until the next tick");
    absence.tick(t + BOUND.toNanos() + 2 * MS);
    assertFalse(absence.pastBound());
  }
}
