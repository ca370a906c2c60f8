package dev.kvraft.server;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A node's stop, run once: by the first caller of {@link #run}; every later caller waits until that run has ended (up
 * to a bound), so that nobody returns from a close while the node is still closing. Two closes meet when a removed
 * node closes itself on its own thread and its owner (a test, an embedding program) closes it too; before, the second
 * returned at once and its caller went on while the node's threads and ports were still being released.
 *
 * <p>Thread-safe: any thread may call any method.
 */
final class StopOnce {
  private final AtomicBoolean started = new AtomicBoolean();
  private final CountDownLatch ended = new CountDownLatch(1);

  /** Whether a stop has begun (it may still be running). */
  boolean started() {
    return started.get();
  }

  /**
   * Runs {@code stop} if no caller has yet, and returns true once it has ended. Otherwise waits for the run under way
   * to end, at most {@code waitMax}, and returns false (an interrupt ends the wait and is kept).
   */
  boolean run(Runnable stop, Duration waitMax) {
    if (started.compareAndSet(false, true)) {
      try {
        stop.run();
      } finally {
        ended.countDown();
      }
      return true;
    }
    try {
      ended.await(waitMax.toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    return false;
  }

  /** Whether the stop has ended. */
  boolean ended() {
    return ended.getCount() == 0;
  }
}
