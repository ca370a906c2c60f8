package dev.kvraft.client;

import dev.kvraft.proto.Error;

/**
 * The connection may not send this request: its user lacks read or write permission on the keys (or the root role
 * for an admin command), or, for example, a forwarded request came from a non-member. Not retried.
 */
public final class PermissionDeniedException extends KvException {
  public PermissionDeniedException(String message) {
    super(Error.Code.PERMISSION_DENIED, message, "");
  }
}
