package dev.kvraft.server.db;

import java.util.concurrent.CompletionException;

/** The server's one rule for reading a failed future: the failure is what a CompletionException wraps. */
public final class Failures {
  private Failures() {}

  /** {@code t} without its CompletionException wrappers (a wrapper with no cause is kept). */
  public static Throwable cause(Throwable t) {
    while (t instanceof CompletionException && t.getCause() != null) {
      t = t.getCause();
    }
    return t;
  }

  /** A failed Raft call as a kvraft error: the ConsensusException it carries, or INTERNAL naming what it was. */
  public static ConsensusException consensus(Throwable thrown) {
    var t = cause(thrown);
    if (t instanceof ConsensusException ce) {
      return ce;
    }
    return new ConsensusException(dev.kvraft.proto.Error.Code.INTERNAL, "raft failed the request: " + t, "");
  }
}
