package dev.kvraft.shell.commands;

import dev.kvraft.shell.Args;
import dev.kvraft.shell.ShellCommand;
import dev.kvraft.shell.ShellContext;
import dev.kvraft.shell.UsageException;
import java.util.List;
import java.util.Set;

/** {@code \timing on|off}: print each command's latency. */
public final class TimingCommand implements ShellCommand {
  private static final Spec SPEC = new Spec("\\timing", Group.SHELL,
      "[on|off]",
      "print how long each command took (no argument: toggle)",
      "\\timing on");

  @Override
  public Spec spec() {
    return SPEC;
  }

  @Override
  public void run(List<String> words, ShellContext ctx) {
    var args = Args.parse(words, Set.of(), Set.of()).expect(0, 1);
    if (args.count() == 0) {
      ctx.timing(!ctx.timing());
    } else {
      switch (args.word(0)) {
        case "on" -> ctx.timing(true);
        case "off" -> ctx.timing(false);
        default -> throw new UsageException("say 'on' or 'off', not '" + args.word(0) + "'");
      }
    }
    ctx.err().println("timing " + (ctx.timing() ? "on" : "off"));
  }
}
