package dev.kvraft.client;

import dev.kvraft.proto.Error;

/** The server is saturated; back off and retry. */
public final class OverloadedException extends KvException {
  public OverloadedException(String message) {
    super(Error.Code.OVERLOADED, message, "");
  }
}
