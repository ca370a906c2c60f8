package dev.kvraft.client;

import dev.kvraft.proto.Error;

/** Auth is on and the client gave no credentials, or wrong ones (the server never says which); not retried. */
public final class UnauthenticatedException extends KvException {
  public UnauthenticatedException(String message) {
    super(Error.Code.UNAUTHENTICATED, message, "");
  }
}
