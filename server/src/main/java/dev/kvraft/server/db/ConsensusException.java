package dev.kvraft.server.db;

import dev.kvraft.proto.Error;

/** Why Raft refused a proposal or a read barrier, as an error code a client understands. */
public final class ConsensusException extends RuntimeException {
  private final Error.Code code;
  private final String leaderId;

  public ConsensusException(Error.Code code, String message, String leaderId) {
    super(message);
    this.code = code;
    this.leaderId = leaderId == null ? "" : leaderId;
  }

  public Error.Code code() {
    return code;
  }

  /** The leader Raft suggested, or empty. */
  public String leaderId() {
    return leaderId;
  }
}
