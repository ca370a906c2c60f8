package dev.kvraft.server.db;

import dev.kvraft.proto.Request;

/**
 * How the client port hands validated commands to the database loop. Implemented by {@link DatabaseLoop}; the net
 * package sees only this.
 */
public interface CommandSink {
  /**
   * Queues a command, waiting for a queue slot at most until its deadline ({@link System#nanoTime()} units).
   *
   * @return false when no slot freed up in time (the caller answers OVERLOADED)
   */
  boolean submit(Request request, Replier replier, long deadline, RequestTrace trace) throws InterruptedException;

  /** The connection closed: the watches it opened end. */
  default void closed(WatchSink sink) {}

  /** Who is told of the answers the caller gives itself (invalid requests, OVERLOADED). */
  RequestObserver requestObserver();
}
