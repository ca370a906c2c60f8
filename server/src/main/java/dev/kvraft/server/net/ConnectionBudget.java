package dev.kvraft.server.net;

import dev.kvraft.server.config.ConnectionLimits;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The memory every client connection together may hold: answers queued and not yet read by their clients, request
 * frames being received, and requests read and not yet answered. One per listener, shared by its connections;
 * atomics, so any connection's threads (and the database loop, answering) may use it.
 */
final class ConnectionBudget {
  private final ConnectionLimits limits;
  private final AtomicLong outboxBytes = new AtomicLong();
  private final AtomicLong partialBytes = new AtomicLong();
  private final AtomicLong inflightBytes = new AtomicLong();

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
    return reserve(partialBytes, bytes, limits.partialFramesBytes());
  }

  /** Adds {@code bytes} to {@code held} unless that passes {@code bound} while something is held already. */
  private static boolean reserve(AtomicLong held, long bytes, long bound) {
    while (true) {
      long now = held.get();
      if (now + bytes > bound && now > 0) {
        return false;
      }
      if (held.compareAndSet(now, now + bytes)) {
        return true;
      }
    }
  }

  void releaseFrame(long bytes) {
    partialBytes.addAndGet(-bytes);
  }

  /**
   * Takes room for a request of {@code bytes} read and not yet answered; false (nothing taken) when it would pass
   * {@code limit.inflight.total.bytes} and some are held (one request larger than the bound goes when none is).
   */
  boolean reserveRequest(long bytes) {
    return reserve(inflightBytes, bytes, limits.inflightTotalBytes());
  }

  /** A request's answer was queued (or dropped): its bytes leave the bound. */
  void releaseRequest(long bytes) {
    inflightBytes.addAndGet(-bytes);
  }

  long outboxBytes() {
    return outboxBytes.get();
  }

  long partialBytes() {
    return partialBytes.get();
  }

  long inflightBytes() {
    return inflightBytes.get();
  }
}
