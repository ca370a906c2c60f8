package dev.kvraft.server.db;

import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import java.util.List;

/**
 * Sends a follower's requests to the leader's client port over kvraft's own pipelined protocol. Implemented by
 * {@code dev.kvraft.server.net.LeaderLink}. {@link #send} only queues; answers come back through the {@link Sink},
 * on the link's threads.
 */
public interface Forwarder {

  /** Where the answers go; both methods must not block. */
  interface Sink {
    void replied(Response response);

    /**
     * The requests with these ids got no answer. {@code sent} is false when they never left this node (the leader
     * could not be reached), so they were certainly not applied.
     */
    void failed(List<Long> ids, boolean sent, String reason);
  }

  /** Queues one batch for the leader at {@code address}; it is written with one flush. */
  void send(String address, List<Request> batch);
}
