package dev.kvraft.server.metrics;

import java.util.function.Consumer;

/**
 * Logs one line for a client request whose total time is at least the {@code log.slow.ms} threshold.
 *
 * <p>Immutable and thread-safe; any connection or loop thread may call {@link #record}. Requests
 * under the threshold cost one addition and one comparison and allocate nothing.
 */
public final class SlowRequestLog {
  /** Default for {@code log.slow.ms}. */
  public static final long DEFAULT_THRESHOLD_MS = 1000;
  /** Keys longer than this many characters are cut and marked with "...". */
  public static final int MAX_KEY_CHARS = 64;

  private final long thresholdNanos;
  private final Consumer<String> sink;

  private SlowRequestLog(long thresholdNanos, Consumer<String> sink) {
    this.thresholdNanos = thresholdNanos;
    this.sink = sink;
  }

  /**
   * @param thresholdMs {@code log.slow.ms}; must be positive
   * @param sink receives each finished line (e.g. {@code log::warn})
   */
  public static SlowRequestLog of(long thresholdMs, Consumer<String> sink) {
    if (thresholdMs <= 0) {
      throw new IllegalArgumentException("log.slow.ms must be a positive number of milliseconds, got " + thresholdMs);
    }
    if (sink == null) {
      throw new IllegalArgumentException("sink must not be null");
    }
    return new SlowRequestLog(thresholdMs * 1_000_000L, sink);
  }

  /**
   * Records one finished request; logs it if queue + raft + apply time reaches the threshold.
   *
   * @return whether a line was logged
   */
  public boolean record(String command, String key, String connection,
                        long queueNanos, long raftNanos, long applyNanos) {
    long total = queueNanos + raftNanos + applyNanos;
    if (total < thresholdNanos) {
      return false;
    }
    sink.accept("slow request: " + command + " key=" + truncate(key) + " conn=" + connection
        + " total=" + ms(total) + "ms queue=" + ms(queueNanos) + "ms raft=" + ms(raftNanos)
        + "ms apply=" + ms(applyNanos) + "ms (threshold log.slow.ms=" + thresholdNanos / 1_000_000L + ")");
    return true;
  }

  /** The threshold, in nanoseconds. */
  public long thresholdNanos() {
    return thresholdNanos;
  }

  static String truncate(String key) {
    if (key == null) {
      return "-";
    }
    return key.length() <= MAX_KEY_CHARS ? key : key.substring(0, MAX_KEY_CHARS) + "...";
  }

  private static String ms(long nanos) {
    return Long.toString(nanos / 1_000_000L);
  }
}
