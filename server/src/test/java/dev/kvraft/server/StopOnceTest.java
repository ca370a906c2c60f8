package dev.kvraft.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import dev.kvraft.server.testing.Hold;
import org.junit.jupiter.api.Test;

/**
 * A node's stop runs once, and a second close returns only when it has ended. Before, a second close (a test's, after
 * a removed node had begun closing itself) returned at once while the node's threads and ports were still open.
 */
class StopOnceTest {
  @Test
  void aSecondCloseReturnsOnlyOnceTheFirstHasEndedAndTheStopRunsOnce() throws Exception {
    var once = new StopOnce();
    var runs = new AtomicInteger();
    var inStop = new Hold();
    var first = Thread.ofPlatform().name("test-first-close").start(() -> once.run(() -> {
      runs.incrementAndGet();
      inStop.run();
    }, Duration.ofSeconds(30)));
    assertTrue(inStop.awaitReached(Duration.ofSeconds(10)), "the first close did not begin its stop");
    assertTrue(once.started());

    var secondReturned = new AtomicBoolean();
    var ranIt = new AtomicBoolean(true);
    var second = Thread.ofPlatform().name("test-second-close").start(() -> {
      ranIt.set(once.run(runs::incrementAndGet, Duration.ofSeconds(30)));
      secondReturned.set(true);
    });
    // The second close must be waiting, not returned: poll for its state, with a deadline.
    dev.kvraft.server.testing.Await.until("the second close to wait for the first", Duration.ofSeconds(10),
        () -> second.getState() == Thread.State.WAITING || second.getState() == Thread.State.TIMED_WAITING
            || secondReturned.get());
    assertFalse(secondReturned.get(), "the second close returned while the first was still stopping the node");
    inStop.release();
    second.join(10_000);
    first.join(10_000);
    assertTrue(secondReturned.get());
    assertFalse(ranIt.get(), "the second close did not run the stop again");
    assertEquals(1, runs.get());
    assertTrue(once.ended());
  }

  @Test
  void aSecondCloseWaitsNoLongerThanItsBound() throws Exception {
    var once = new StopOnce();
    var inStop = new Hold();
    var first = Thread.ofPlatform().name("test-stuck-close").start(() -> once.run(inStop, Duration.ofSeconds(30)));
    try {
      assertTrue(inStop.awaitReached(Duration.ofSeconds(10)));
      assertFalse(once.run(() -> { }, Duration.ofMillis(100)), "returns after its bound, without running the stop");
      assertFalse(once.ended(), "the stuck stop is still under way");
    } finally {
      inStop.release();
      first.join(10_000);
    }
  }
}
