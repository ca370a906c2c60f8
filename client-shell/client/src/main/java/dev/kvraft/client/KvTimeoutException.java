package dev.kvraft.client;

import dev.kvraft.proto.Error;

/**
 * The deadline passed, or the connection was lost after the request was sent. For a write the outcome is
 * <em>unknown</em>: it may or may not have been applied, and may still apply later, so a read that does not show it
 * proves nothing. Retry it only if it is idempotent, or as a txn that compares the key's mod_revision; a blind retry
 * may apply it twice.
 */
public final class KvTimeoutException extends KvException {
  public KvTimeoutException(String message) {
    super(Error.Code.TIMEOUT, message, "");
  }

  public KvTimeoutException(String message, Throwable cause) {
    super(Error.Code.TIMEOUT, message, cause);
  }
}
