package dev.kvraft.client;

import dev.kvraft.proto.Error;

/** A frame, key, value or limit is over the server's limit; fix the request, do not retry. */
public final class TooLargeException extends KvException {
  public TooLargeException(String message) {
    super(Error.Code.TOO_LARGE, message, "");
  }
}
