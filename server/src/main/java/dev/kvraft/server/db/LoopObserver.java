package dev.kvraft.server.db;

/**
 * Told by the database loop, on its own thread, how its work went: for metrics. Must be cheap and must never block.
 */
public interface LoopObserver {
  LoopObserver NONE = new LoopObserver() { };

  /** One turn of the loop handled {@code events} events and was busy for {@code busyNanos} (not waiting). */
  default void turn(int events, long busyNanos) { }

  /** The leader proposed one log entry of {@code ops} client writes, {@code bytes} long. */
  default void proposed(int ops, int bytes) { }

  /** Adds what it observed to a Status answer (latencies); called on the loop thread for each Status request. */
  default void describe(dev.kvraft.proto.StatusResult.Builder status) { }
}
