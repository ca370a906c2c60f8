package dev.kvraft.shell.commands;

import dev.kvraft.shell.Args;
import dev.kvraft.shell.Format;
import dev.kvraft.shell.ShellCommand;
import dev.kvraft.shell.ShellContext;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/** {@code \format table|json|raw}: how results are printed. */
public final class FormatCommand implements ShellCommand {
  private static final Spec SPEC = new Spec("\\format", Group.SHELL,
      "[table|json|raw]",
      "print results as aligned tables, JSON, or raw values (no argument: show the current one)",
      "\\format json");

  @Override
  public Spec spec() {
    return SPEC;
  }

  @Override
  public void run(List<String> words, ShellContext ctx) {
    var args = Args.parse(words, Set.of(), Set.of()).expect(0, 1);
    if (args.count() == 1) {
      ctx.format(Format.parse(args.word(0)));
    }
    ctx.out().println("format " + ctx.format().name().toLowerCase(Locale.ROOT));
  }
}
