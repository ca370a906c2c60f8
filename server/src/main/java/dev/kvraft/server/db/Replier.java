package dev.kvraft.server.db;

import dev.kvraft.proto.Response;

/**
 * Where a command's response goes: the connection's outbox. Must never block; the database loop calls it.
 */
@FunctionalInterface
public interface Replier {
  void reply(Response response);
}
