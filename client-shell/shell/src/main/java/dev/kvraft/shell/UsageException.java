package dev.kvraft.shell;

/** The arguments of a command are wrong; the shell prints the message and the command's usage. */
public final class UsageException extends RuntimeException {
  public UsageException(String message) {
    super(message);
  }
}
