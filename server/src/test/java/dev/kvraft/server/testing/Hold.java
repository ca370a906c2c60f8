package dev.kvraft.server.testing;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * A test hook that holds the thread running it until the test releases it: {@link #run} signals that it was reached,
 * then waits for {@link #release} (30 s at most, so a failing test never leaves the thread waiting for good). For
 * putting a race's second party at an exact point of the first.
 */
public final class Hold implements Runnable {
  private final CountDownLatch reached = new CountDownLatch(1);
  private final CountDownLatch released = new CountDownLatch(1);

  @Override
  public void run() {
    reached.countDown();
    try {
      released.await(30, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** Waits until a thread reached the hook; false when none did within {@code timeout}. */
  public boolean awaitReached(Duration timeout) throws InterruptedException {
    return reached.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
  }

  /** Lets the held thread, and any that reaches the hook later, go on. */
  public void release() {
    released.countDown();
  }
}
