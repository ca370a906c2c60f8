package dev.kvraft.client;

import dev.kvraft.proto.Error;

/**
 * The request conflicts with the cluster's state: another membership change is running, or the member named is
 * already there (or absent, or not a learner to promote, or the only voter), or a lease id asked for is taken. Not
 * retried by the client: retry once the other change is done, or fix the request.
 */
public final class ConflictException extends KvException {
  public ConflictException(String message) {
    super(Error.Code.CONFLICT, message, "");
  }
}
