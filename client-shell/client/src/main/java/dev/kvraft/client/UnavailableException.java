package dev.kvraft.client;

import dev.kvraft.proto.Error;

/**
 * No leader, no quorum, or the node is shutting down: the request was not applied. Safe to retry, on another node
 * if {@link #leaderAddress()} names one or the node is gone.
 */
public final class UnavailableException extends KvException {
  public UnavailableException(String message, String leaderAddress) {
    super(Error.Code.UNAVAILABLE, message, leaderAddress);
  }

  public UnavailableException(String message, Throwable cause) {
    super(Error.Code.UNAVAILABLE, message, cause);
  }
}
