package dev.kvraft.server.net;

import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * What the accept thread does when {@code accept()} fails (EMFILE and the like, a cause that persists for a while):
 * wait 10 ms, doubling up to one second while failures continue, back to nothing after a success; and say so at most
 * once a second, with the count of failures since the last line, instead of one line per failure (about 600,000
 * lines in 5 s before issue #15). Owned by the accept thread.
 */
final class AcceptBackoff {
  static final long MIN_MILLIS = 10;
  static final long MAX_MILLIS = 1000;

  /** One log line's worth: failures since the last line, the last error, the wait now. */
  record Report(long failures, String lastError, long waitMillis) {}

  private final LongSupplier nanoClock;
  private long waitMillis;
  private long unlogged;
  private long lastLogNanos;
  private boolean logged;

  AcceptBackoff(LongSupplier nanoClock) {
    this.nanoClock = nanoClock;
  }

  void succeeded() {
    waitMillis = 0;
  }

  /** Records a failure; returns how long to wait before accepting again. */
  long failed() {
    waitMillis = Math.min(MAX_MILLIS, Math.max(MIN_MILLIS, waitMillis * 2));
    unlogged++;
    return waitMillis;
  }

  /** A report to log now, or null when one was logged less than a second ago. */
  Report report(String lastError) {
    long now = nanoClock.getAsLong();
    if (logged && now - lastLogNanos < TimeUnit.SECONDS.toNanos(1)) {
      return null;
    }
    var r = new Report(unlogged, lastError, waitMillis);
    unlogged = 0;
    lastLogNanos = now;
    logged = true;
    return r;
  }
}
