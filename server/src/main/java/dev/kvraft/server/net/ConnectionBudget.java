package dev.kvraft.server.net;

import dev.kvraft.server.config.ConnectionLimits;
import java.util.ArrayDeque;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BooleanSupplier;

/**
 * The memory every client connection together may hold: answers queued and not yet read by their clients, request
 * frames being received, and requests read and not yet answered. One per listener, shared by its connections;
 * atomics, so any connection's threads (and the database loop, answering) may use it.
 *
 * <p>Room in {@code limit.inflight.total.bytes} is handed out first come, first served ({@link #awaitRequest}): a
 * reader that finds no room takes a place in {@link #waiters}, and while anyone waits a newcomer queues behind them
 * even when its request would fit, so a large request is not overtaken again and again by small ones from busy
 * connections. Whoever gives bytes back ({@link #releaseRequest}) hands the room to the waiters at the head, in order,
 * and wakes them. {@link #waiters} is guarded by {@link #lock}; {@link #waiting} is its size, read without the lock.
 */
final class ConnectionBudget {
  /** How often a waiting reader looks whether its connection closed, should nobody wake it (they do: a backstop). */
  private static final long CLOSED_CHECK_NANOS = TimeUnit.SECONDS.toNanos(1);
  private final ConnectionLimits limits;
  private final AtomicLong outboxBytes = new AtomicLong();
  private final AtomicLong partialBytes = new AtomicLong();
  private final AtomicLong inflightBytes = new AtomicLong();
  private final ReentrantLock lock = new ReentrantLock();
  /** Guarded by {@link #lock}: readers waiting for room in {@code limit.inflight.total.bytes}, first come first. */
  private final ArrayDeque<Ticket> waiters = new ArrayDeque<>();
  /** The size of {@link #waiters}: changed under {@link #lock}, read without it. */
  private final AtomicInteger waiting = new AtomicInteger();

  /** One reader's place in {@link #waiters}. {@code granted} is set (under the lock) when its bytes were counted. */
  private static final class Ticket {
    final long bytes;
    final Thread reader;
    volatile boolean granted;

    Ticket(long bytes, Thread reader) {
      this.bytes = bytes;
      this.reader = reader;
    }
  }

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

  /**
   * Takes room for {@code bytes} more of a frame being received, which holds {@code own} already; false (nothing
   * taken) when there is none while another frame holds some (the bound is at least {@code limit.frame.bytes}, so one
   * frame alone always fits).
   */
  boolean reserveFrame(long bytes, long own) {
    return reserve(partialBytes, bytes, limits.partialFramesBytes(), own);
  }

  /** Adds {@code bytes} to {@code held} unless that passes {@code bound} while something is held already. */
  private static boolean reserve(AtomicLong held, long bytes, long bound) {
    return reserve(held, bytes, bound, 0);
  }

  /**
   * Adds {@code bytes} to {@code held} unless that passes {@code bound} while more than {@code own} (the caller's
   * part of {@code held}) is held already.
   */
  private static boolean reserve(AtomicLong held, long bytes, long bound, long own) {
    while (true) {
      long now = held.get();
      if (now + bytes > bound && now > own) {
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
   * Waits for room for a request of {@code bytes} read and not yet answered, then counts it (true): it fits under
   * {@code limit.inflight.total.bytes} with every connection's requests (or none is held: one request larger than the
   * bound goes alone), and every reader that began waiting before this one has had its room. No deadline: the requests
   * that fill the bound are the server's to answer. False, nothing counted and its place given up, once {@code open}
   * says the connection closed; whoever closes it wakes the reader ({@link LockSupport#unpark}), which also looks by
   * itself every second.
   */
  boolean awaitRequest(long bytes, BooleanSupplier open) throws InterruptedException {
    if (waiting.get() == 0 && reserve(inflightBytes, bytes, limits.inflightTotalBytes())) {
      return true; // the usual case: nobody waits and it fits
    }
    var ticket = new Ticket(bytes, Thread.currentThread());
    lock.lock();
    try {
      waiters.add(ticket);
      waiting.incrementAndGet();
      grant(); // room freed before this ticket was counted in waiting finds it here
    } finally {
      lock.unlock();
    }
    while (!ticket.granted) {
      if (Thread.interrupted()) {
        if (!leave(ticket)) {
          throw new InterruptedException();
        }
        Thread.currentThread().interrupt();
        return true;
      }
      if (!open.getAsBoolean()) {
        return leave(ticket);
      }
      LockSupport.parkNanos(this, CLOSED_CHECK_NANOS);
    }
    return true;
  }

  /** Gives up a place: true when its room was granted meanwhile (it is the caller's, counted), false when not. */
  private boolean leave(Ticket ticket) {
    lock.lock();
    try {
      if (ticket.granted) {
        return true;
      }
      waiters.remove(ticket);
      waiting.decrementAndGet();
      grant(); // the one behind it may fit now
      return false;
    } finally {
      lock.unlock();
    }
  }

  /** Under the lock: counts the waiters at the head while they fit, in order, and wakes them. */
  private void grant() {
    for (Ticket head; (head = waiters.peek()) != null; ) {
      if (!reserve(inflightBytes, head.bytes, limits.inflightTotalBytes())) {
        return; // nobody behind it may overtake it
      }
      waiters.poll();
      waiting.decrementAndGet();
      head.granted = true;
      LockSupport.unpark(head.reader);
    }
  }

  /** A request's answer was queued (or dropped): its bytes leave the bound, and waiting readers get the room. */
  void releaseRequest(long bytes) {
    inflightBytes.addAndGet(-bytes);
    if (waiting.get() > 0) {
      lock.lock();
      try {
        grant();
      } finally {
        lock.unlock();
      }
    }
  }

  /** How many readers wait for room in {@code limit.inflight.total.bytes} now. */
  int requestWaiters() {
    return waiting.get();
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
