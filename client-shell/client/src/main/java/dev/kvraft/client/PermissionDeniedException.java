package dev.kvraft.client;

import dev.kvraft.proto.Error;

/** The connection may not send this request (for example a forwarded request from a non-member); not retried. */
public final class PermissionDeniedException extends KvException {
  public PermissionDeniedException(String message) {
    super(Error.Code.PERMISSION_DENIED, message, "");
  }
}
