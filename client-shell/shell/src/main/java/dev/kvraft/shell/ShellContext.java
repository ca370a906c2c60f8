package dev.kvraft.shell;

import dev.kvraft.client.KvClient;
import java.io.PrintWriter;

/**
 * What a command works with: the client, where output and errors go, and the output settings. Owned by the shell's
 * one thread.
 */
public final class ShellContext {
  /** The shell's client: replaced (and the old one closed) when the shell's own user changes its password. */
  private KvClient client;
  /** The user the shell logged in as, and how to log in again as it with a new password; none without --user. */
  private String loginUser;
  private java.util.function.Function<String, KvClient> relogin;
  private final PrintWriter out;
  private final PrintWriter err;
  private final Commands commands;
  private Format format;
  private boolean timing;
  private LineSource lines = LineSource.NONE;
  private Secrets secrets = user -> {
    throw new UsageException("no new password for " + user + ": set KVSH_NEW_PASSWORD, or run kvsh on a terminal");
  };

  /** Where a new user's password comes from: never from the command line, which `ps` shows. */
  @FunctionalInterface
  public interface Secrets {
    String newPassword(String user);
  }

  private volatile Runnable interrupt;
  private int exitStatus;

  public ShellContext(KvClient client, PrintWriter out, PrintWriter err, Commands commands, Format format) {
    this.client = client;
    this.out = out;
    this.err = err;
    this.commands = commands;
    this.format = format;
  }

  public KvClient client() {
    return client;
  }

  /** The shell logged in as {@code user}; {@code relogin} makes a client logged in as it with a new password. */
  public void loggedInAs(String user, java.util.function.Function<String, KvClient> relogin) {
    this.loginUser = user;
    this.relogin = relogin;
  }

  /**
   * {@code user}'s password was changed to {@code password}: when that is the shell's own user, whose session the
   * change ended on the server, the shell logs in again with the new one (the old client is closed); true then.
   */
  public boolean passwordChanged(String user, String password) {
    if (relogin == null || !user.equals(loginUser)) {
      return false;
    }
    var old = client;
    client = relogin.apply(password);
    old.close();
    return true;
  }

  /** The client to close when the shell ends (the last one, after any re-login). */
  KvClient lastClient() {
    return client;
  }

  public PrintWriter out() {
    return out;
  }

  public PrintWriter err() {
    return err;
  }

  public Commands commands() {
    return commands;
  }

  public Format format() {
    return format;
  }

  public void format(Format f) {
    this.format = f;
  }

  /** Where multi-line commands read their following lines. */
  public LineSource lines() {
    return lines;
  }

  public void lines(LineSource source) {
    this.lines = source;
  }

  public Secrets secrets() {
    return secrets;
  }

  public void secrets(Secrets s) {
    this.secrets = s;
  }

  /**
   * What Ctrl-C does while a command runs (a watch returns to the prompt); null: nothing. Set and cleared by the
   * command, called from the terminal's signal thread.
   */
  public void onInterrupt(Runnable hook) {
    this.interrupt = hook;
  }

  /**
   * Waits until Ctrl-C, or until {@code held} turns false (a lease lost), looking every 200 ms; true when it ended by
   * Ctrl-C. What lease, lock or leadership is held is renewed on its own thread meanwhile.
   */
  public boolean holdUntilInterrupted(java.util.function.BooleanSupplier held) throws InterruptedException {
    var stop = new java.util.concurrent.CountDownLatch(1);
    onInterrupt(stop::countDown);
    try {
      while (held.getAsBoolean()) {
        if (stop.await(200, java.util.concurrent.TimeUnit.MILLISECONDS)) {
          return true;
        }
      }
      return false;
    } finally {
      onInterrupt(null);
    }
  }

  /** Ctrl-C while a command runs: true when the command took it. */
  public boolean interrupt() {
    var hook = interrupt;
    if (hook == null) {
      return false;
    }
    hook.run();
    return true;
  }

  /** A failed command's own exit status for kvsh to end with (a locked command's), instead of 1. */
  public void exitStatus(int status) {
    this.exitStatus = status;
  }

  public int exitStatus() {
    return exitStatus;
  }

  public boolean timing() {
    return timing;
  }

  public void timing(boolean on) {
    this.timing = on;
  }
}
