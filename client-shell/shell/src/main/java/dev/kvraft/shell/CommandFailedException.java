package dev.kvraft.shell;

/** The command ran but did not do what was asked (a compare-and-set that did not match): exit status 1. */
public final class CommandFailedException extends RuntimeException {
  public CommandFailedException(String message) {
    super(message);
  }
}
