package dev.kvraft.shell;

import dev.kvraft.client.KvException;
import dev.kvraft.client.KvTimeoutException;
import dev.kvraft.client.UnavailableException;
import java.util.List;

/**
 * Runs command lines: splits, finds the command, runs it and reports any failure on the error stream without ever
 * throwing, so the interactive shell survives every mistake. Owned by the shell's one thread.
 */
public final class Shell {
  /** What one line did. */
  public enum Outcome { OK, FAILED, EXIT }

  private final ShellContext ctx;
  /** The node the last command talked to, to notice a failover. */
  private String lastAddress;

  public Shell(ShellContext ctx) {
    this.ctx = ctx;
  }

  public ShellContext context() {
    return ctx;
  }

  /**
   * The words of a line. A meta-command ({@code \format}, {@code \timing}, psql style) keeps its first word as
   * typed: the tokenizer would read its backslash as an escape ({@code \t} is a tab).
   */
  static List<String> split(String line) {
    if (!line.startsWith("\\")) {
      return Tokenizer.split(line);
    }
    int end = 0;
    while (end < line.length() && !Character.isWhitespace(line.charAt(end))) {
      end++;
    }
    var words = new java.util.ArrayList<String>();
    words.add(line.substring(0, end));
    words.addAll(Tokenizer.split(line.substring(end)));
    return words;
  }

  /** Says so when the client moved to another node (its node died or had no leader). */
  private void noticeFailover() {
    var now = ctx.client().currentAddress();
    if (now.isEmpty()) {
      return;
    }
    if (lastAddress != null && !lastAddress.equals(now.get())) {
      ctx.err().println("kvsh: lost " + lastAddress + "; now connected to " + now.get());
    }
    lastAddress = now.get();
  }

  /** Runs one line. Blank lines and {@code #} comments do nothing. */
  public Outcome run(String line) {
    var trimmed = line.strip();
    if (trimmed.isEmpty() || trimmed.startsWith("#")) {
      return Outcome.OK;
    }
    List<String> words;
    try {
      words = split(trimmed);
    } catch (UsageException e) {
      ctx.err().println("error: " + e.getMessage());
      return Outcome.FAILED;
    }
    if (words.isEmpty()) {
      return Outcome.OK;
    }
    var name = words.get(0);
    if (name.equals("exit") || name.equals("quit") || name.equals("\\q")) {
      return Outcome.EXIT;
    }
    var command = ctx.commands().find(name);
    if (command.isEmpty()) {
      ctx.err().println("error: unknown command '" + name + "'"
          + ctx.commands().closest(name).map(n -> "; did you mean '" + n + "'?").orElse("")
          + " (type 'help' for the list)");
      return Outcome.FAILED;
    }
    var c = command.get();
    long start = System.nanoTime();
    try {
      c.run(words.subList(1, words.size()), ctx);
      return Outcome.OK;
    } catch (UsageException e) {
      ctx.err().println("error: " + e.getMessage());
      ctx.err().println("usage: " + c.spec().name() + (c.spec().usage().isEmpty() ? "" : " " + c.spec().usage()));
      return Outcome.FAILED;
    } catch (CommandFailedException e) {
      ctx.err().println(e.getMessage());
      return Outcome.FAILED;
    } catch (UnavailableException e) {
      ctx.err().println("error (UNAVAILABLE): " + e.getMessage());
      return Outcome.FAILED;
    } catch (KvTimeoutException e) {
      ctx.err().println("error (TIMEOUT): " + e.getMessage());
      return Outcome.FAILED;
    } catch (KvException e) {
      ctx.err().println("error (" + e.code() + "): " + e.getMessage());
      return Outcome.FAILED;
    } catch (RuntimeException e) {
      ctx.err().println("error: " + e);
      return Outcome.FAILED;
    } finally {
      noticeFailover();
      if (ctx.timing()) {
        ctx.err().printf("(%.3f ms)%n", (System.nanoTime() - start) / 1e6);
      }
      ctx.out().flush();
      ctx.err().flush();
    }
  }
}
