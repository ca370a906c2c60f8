package dev.kvraft.client;

import dev.kvraft.proto.Error;

/** A server bug or local failure; the message says what. Report it. */
public final class InternalException extends KvException {
  public InternalException(String message) {
    super(Error.Code.INTERNAL, message, "");
  }
}
