package dev.kvraft.server.net;

import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

/**
 * What the request frame a connection is reading holds and has not handed on yet: one of the connection's
 * {@link ClientConnection#MAX_IN_FLIGHT} answer slots, and the frame's room in {@code limit.inflight.bytes} (and
 * {@code limit.inflight.total.bytes}). The {@link ClientConnection}'s reader takes both before it reads the frame's body;
 * the {@link RequestHandler} (or the reader, for a protocol error) hands them on to the request's answer: the slot once
 * it knows the request is answered, the bytes with the answer or with the command it gives the database loop. Whatever
 * is left when the frame is done goes back ({@link #giveBack}): the frame did not become a request handed on.
 *
 * <p>Who owns what: one per connection, reused for every frame; its two fields are the connection's reader thread's
 * ({@code kvraft-conn-N}) only, as are all its methods. Not its own: the {@link #inFlight} semaphore (the connection's:
 * the reader takes slots, the {@link Outbox}'s writer frees them once their answers are written or dropped) and the
 * byte counts (the {@link Outbox}'s, which any thread that queues an answer gives back).
 */
final class FrameTicket {
  /** The connection's: one slot per request read and not yet answered. */
  private final Semaphore inFlight;
  private final Outbox outbox;
  /** A slot is taken for the frame being read and not yet given to its answer. */
  private boolean slot;
  /** The bytes of {@code limit.inflight.bytes} taken for the frame being read and not yet handed on. */
  private long held;

  FrameTicket(Semaphore inFlight, Outbox outbox) {
    this.inFlight = inFlight;
    this.outbox = outbox;
  }

  /** Takes the frame's answer slot, waiting at most {@code timeoutNanos}; false when none freed in time. */
  boolean takeSlot(long timeoutNanos) throws InterruptedException {
    if (!inFlight.tryAcquire(timeoutNanos, TimeUnit.NANOSECONDS)) {
      return false;
    }
    slot = true;
    return true;
  }

  /**
   * Waits for room for a frame of {@code length} bytes ({@link Outbox#awaitRequestRoom}, no deadline) and holds it;
   * false, nothing held, when the connection broke or closed first.
   */
  boolean awaitRoom(long length) throws InterruptedException {
    if (!outbox.awaitRequestRoom(length)) {
      return false;
    }
    held = length;
    return true;
  }

  /** The frame's answer is on its way: writing it (or dropping it) frees the slot, the reader no longer does. */
  void slotToAnswer() {
    slot = false;
  }

  /** The bytes held, still held: for a command the database loop may refuse ({@link #handOn} once it took it). */
  long held() {
    return held;
  }

  /** The frame's room in {@code limit.inflight.bytes}, for whoever gives it back now; none is held after. */
  long handOn() {
    long bytes = held;
    held = 0;
    return bytes;
  }

  /** The frame is done: gives back the room and the slot it did not hand on. */
  void giveBack() {
    outbox.requestDone(handOn()); // the frame did not become a request that was handed on
    if (slot) {
      slot = false;
      inFlight.release(); // nor an answer
    }
  }
}
