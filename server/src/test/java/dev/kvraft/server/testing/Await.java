package dev.kvraft.server.testing;

import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.function.Predicate;

/**
 * The one way tests wait: poll a probe every 20 ms until a condition holds or the deadline passes, then fail saying
 * what was awaited and what the probe last returned. Never a bare sleep.
 */
public final class Await {
  private static final long POLL_MS = 20;

  private Await() {}

  /** Waits until {@code probe} returns true. */
  public static void until(String what, Duration timeout, Callable<Boolean> probe) throws Exception {
    until(what, timeout, probe, Boolean::booleanValue);
  }

  /** Waits until {@code done} accepts what {@code probe} returns, and returns that value. */
  public static <T> T until(String what, Duration timeout, Callable<T> probe, Predicate<? super T> done)
      throws Exception {
    long deadline = System.nanoTime() + timeout.toNanos();
    T last = null;
    Exception lastError = null;
    while (true) {
      try {
        last = probe.call();
        lastError = null;
        if (done.test(last)) {
          return last;
        }
      } catch (java.io.IOException e) {
        lastError = e; // a node that is not up yet: keep polling
      }
      if (System.nanoTime() - deadline > 0) {
        var error = new AssertionError("waited " + timeout.toMillis() + " ms for " + what + "; last seen: "
            + (lastError != null ? lastError : last));
        if (lastError != null) {
          error.initCause(lastError);
        }
        throw error;
      }
      Thread.sleep(POLL_MS);
    }
  }
}
