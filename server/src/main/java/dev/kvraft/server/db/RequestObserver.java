package dev.kvraft.server.db;

import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;

/**
 * Told of every answered client request, on the thread that answers it (the database loop or a connection's reader):
 * the request metrics and the slow-request log. Must be cheap and must never block.
 */
@FunctionalInterface
public interface RequestObserver {
  RequestObserver NONE = (request, response, trace) -> { };

  void answered(Request request, Response response, RequestTrace trace);
}
