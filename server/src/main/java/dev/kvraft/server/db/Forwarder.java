package dev.kvraft.server.db;

import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Sends a follower's requests to the leader's client port over kvraft's own pipelined protocol. Implemented by
 * {@code dev.kvraft.server.net.LeaderLink}. {@link #send} only queues (or refuses at once when the link holds too
 * much); answers come back through the {@link Sink}, on the link's threads.
 */
public interface Forwarder {

  /** Where the answers go; both methods must not block. */
  interface Sink {
    void replied(Response response);

    /**
     * The requests with these ids got no answer. {@code sent} is false when no byte of them left this node (the
     * leader could not be reached, or the deadline passed while they waited to be written), so they were certainly
     * not applied.
     */
    void failed(List<Long> ids, boolean sent, String reason);
  }

  /**
   * One request for the leader, and the {@link System#nanoTime()} at which this node stops waiting for its answer.
   * The link sets the request's {@code timeout_ms} when it writes it, to what is left of the deadline then less
   * {@link #MARGIN_NANOS}; when nothing is left it drops the request and reports it not sent.
   */
  record Forward(Request request, long deadline) {
    /** Kept back from the leader's timeout, so that its answer arrives before this node gives up. */
    public static final long MARGIN_NANOS = TimeUnit.MILLISECONDS.toNanos(20);

    /** The {@code timeout_ms} to give the leader at {@code now}: at least 1, or 0 when too late to send it at all. */
    public int leaderTimeoutMs(long now) {
      long ms = TimeUnit.NANOSECONDS.toMillis(deadline - now - MARGIN_NANOS);
      return (int) Math.max(0, Math.min(Integer.MAX_VALUE, ms));
    }
  }

  /**
   * Queues one batch for the leader at {@code address}; it is written with one flush. Returns false, having queued
   * nothing, when the link to that address already holds too much: the batch was not sent (the caller answers
   * {@code OVERLOADED}). When it returns true the {@link Sink} hears of every request in the batch (while the link is
   * open).
   */
  boolean send(String address, List<Forward> batch);
}
