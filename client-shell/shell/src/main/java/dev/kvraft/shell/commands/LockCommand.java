package dev.kvraft.shell.commands;

import dev.kvraft.shell.Args;
import dev.kvraft.shell.CommandFailedException;
import dev.kvraft.shell.Output;
import dev.kvraft.shell.ShellCommand;
import dev.kvraft.shell.ShellContext;
import dev.kvraft.shell.UsageException;
import java.io.IOException;
import java.util.List;
import java.util.Set;

/**
 * {@code lock NAME [--ttl S] [-- COMMAND ARGS...]}: takes a distributed lock, like {@code etcdctl lock}. With a
 * command, holds it while the command runs and ends with the command's exit status; without, holds it until Ctrl-C.
 */
public final class LockCommand implements ShellCommand {
  static final long DEFAULT_TTL = 10;
  private static final Spec SPEC = new Spec("lock", Group.KEYS,
      "NAME [--ttl S] [-- COMMAND ARGS...]",
      "take the lock NAME (waiting for it), run COMMAND while holding it and exit with its status; without a"
          + " command, hold it until Ctrl-C. A holder that dies frees it after the TTL (default " + DEFAULT_TTL
          + " s)",
      "lock backup -- ./nightly.sh")
      .withOptions(List.of("--ttl"));

  @Override
  public Spec spec() {
    return SPEC;
  }

  @Override
  public void run(List<String> words, ShellContext ctx) {
    int dash = words.indexOf("--");
    var command = dash < 0 ? List.<String>of()
        : words.subList(dash + 1, words.size()).stream().map(dev.kvraft.shell.Tokenizer::text).toList();
    var args = Args.parse(dash < 0 ? words : words.subList(0, dash), Set.of(), Set.of("ttl")).expect(1, 1);
    if (dash >= 0 && command.isEmpty()) {
      throw new UsageException("lock: name the command after --");
    }
    long ttl = args.number("ttl", DEFAULT_TTL);
    if (ttl < 1) {
      throw new UsageException("lock: --ttl must be 1 or more seconds");
    }
    var name = args.word(0);
    try (var lock = ctx.client().lock(name, ttl)) {
      if (command.isEmpty()) {
        ctx.out().println("locked " + name + " (key " + Output.show(lock.key()) + "); Ctrl-C unlocks");
        ctx.out().flush();
        if (!ctx.holdUntilInterrupted(lock::isHeld)) {
          throw new CommandFailedException("lost the lock " + name + ": its lease is gone");
        }
        return;
      }
      ctx.out().flush();
      var process = new ProcessBuilder(command).inheritIO().start();
      int status = process.waitFor();
      if (!lock.isHeld()) {
        ctx.exitStatus(status == 0 ? 1 : status);
        throw new CommandFailedException("lost the lock " + name + " while '" + String.join(" ", command)
            + "' ran (its lease is gone)");
      }
      if (status != 0) {
        ctx.exitStatus(status);
        throw new CommandFailedException("'" + String.join(" ", command) + "' exited with status " + status);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new CommandFailedException("interrupted while waiting for the lock " + name);
    } catch (IOException e) {
      throw new CommandFailedException("cannot run '" + String.join(" ", command) + "': " + e.getMessage());
    }
  }
}
