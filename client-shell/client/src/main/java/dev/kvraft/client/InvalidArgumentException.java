package dev.kvraft.client;

import dev.kvraft.proto.Error;

/** The request breaks a rule of the protocol (an empty key, a bad range); fix it, do not retry. */
public final class InvalidArgumentException extends KvException {
  public InvalidArgumentException(String message) {
    super(Error.Code.INVALID_ARGUMENT, message, "");
  }
}
