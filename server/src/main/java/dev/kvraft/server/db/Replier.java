package dev.kvraft.server.db;

import dev.kvraft.proto.Response;

/**
 * Where a command's response goes: the connection's outbox (one replier per request, which gives the request's bytes
 * back when its answer is queued). Must never block; the database loop calls it.
 */
@FunctionalInterface
public interface Replier {
  void reply(Response response);

  /**
   * The connection a watch this command opens streams to, and is ended with ({@link CommandSink#closed}); null when
   * there is none (a request the node made itself). Watches are kept by this sink, not by the request's replier.
   */
  default WatchSink watchSink() {
    return null;
  }
}
