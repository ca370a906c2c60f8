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
}
