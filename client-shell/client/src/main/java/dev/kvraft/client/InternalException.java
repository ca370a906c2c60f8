package dev.kvraft.client;

import dev.kvraft.proto.Error;

/**
 * A server bug or local failure; the message says what. Report it. Also how a watch ends whose listener threw (the
 * cause is what it threw).
 */
public final class InternalException extends KvException {
  public InternalException(String message) {
    super(Error.Code.INTERNAL, message, "");
  }

  public InternalException(String message, Throwable cause) {
    super(Error.Code.INTERNAL, message, cause);
  }
}
