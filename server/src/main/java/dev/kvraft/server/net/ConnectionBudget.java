package dev.kvraft.server.net;

import dev.kvraft.server.config.ConnectionLimits;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The memory every client connection together may hold: answers queued and not yet read by their clients, and
 * request frames being received. One per listener, shared by its connections; atomics, so any connection's threads
 * may use it.
 */
final class ConnectionBudget {
  private final ConnectionLimits limits;
  private final AtomicLong outboxBytes = new AtomicLong();
  private final AtomicLong partialBytes = new AtomicLong();

  ConnectionBudget(ConnectionLimits limits) {
    this.limits = limits;
  }

  ConnectionLimits limits() {
    return limits;
  }

  void queued(long bytes) {
    outboxBytes.addAndGet(bytes);
  }

  void written(long bytes) {
    outboxBytes.addAndGet(-bytes);
  }

  /** Whether every client's unread answers together are over {@code limit.outbox.total.bytes}. */
  boolean outboxFull() {
    return outboxBytes.get() > limits.outboxTotalBytes();
  }

  /** Takes room for a frame of {@code bytes} being received; false (nothing taken) when there is none. */
  boolean reserveFrame(long bytes) {
    while (true) {
      long now = partialBytes.get();
      if (now + bytes > limits.partialFramesBytes() && now > 0) {
        return false;
      }
      if (partialBytes.compareAndSet(now, now + bytes)) {
        return true;
      }
    }
  }

  void releaseFrame(long bytes) {
    partialBytes.addAndGet(-bytes);
  }

  long outboxBytes() {
    return outboxBytes.get();
  }

  long partialBytes() {
    return partialBytes.get();
  }
}
