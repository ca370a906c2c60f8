package dev.kvraft.shell.commands;

import dev.kvraft.shell.Args;
import dev.kvraft.shell.ShellCommand;
import dev.kvraft.shell.ShellContext;
import dev.kvraft.shell.UsageException;
import java.util.List;
import java.util.Set;

/** {@code help [COMMAND]}: the commands by group, or one command with its usage and an example. */
public final class HelpCommand implements ShellCommand {
  private static final Spec SPEC = new Spec("help", Group.SHELL,
      "[COMMAND]",
      "list the commands, or explain one",
      "help scan")
      .withAliases(List.of("?"));

  @Override
  public Spec spec() {
    return SPEC;
  }

  @Override
  public void run(List<String> words, ShellContext ctx) {
    var args = Args.parse(words, Set.of(), Set.of()).expect(0, 1);
    var out = ctx.out();
    if (args.count() == 1) {
      var c = ctx.commands().find(args.word(0)).orElseThrow(() -> new UsageException("no command '" + args.word(0)
          + "'" + ctx.commands().closest(args.word(0)).map(n -> "; did you mean '" + n + "'?").orElse("")));
      out.println(c.spec().name() + (c.spec().usage().isEmpty() ? "" : " " + c.spec().usage()));
      out.println("  " + c.spec().summary());
      if (!c.spec().aliases().isEmpty()) {
        out.println("  aliases: " + String.join(", ", c.spec().aliases()));
      }
      out.println("  example: " + c.spec().example());
      return;
    }
    for (var group : Group.values()) {
      var members = ctx.commands().all().stream().filter(c -> c.spec().group() == group).toList();
      if (members.isEmpty()) {
        continue;
      }
      out.println(group.title() + ":");
      for (var c : members) {
        out.printf("  %-10s %s%n", c.spec().name(), c.spec().summary());
      }
    }
    out.println("Keys and values may be quoted ('a b', \"a\\tb\") and hold any byte as \\xHH.");
    out.println("'help COMMAND' shows its usage and an example; 'exit' or Ctrl-D leaves.");
  }
}
