package dev.kvraft.shell.commands;

import dev.kvraft.shell.Args;
import dev.kvraft.shell.ShellCommand;
import dev.kvraft.shell.ShellContext;
import dev.kvraft.shell.UsageException;
import java.util.List;
import java.util.Set;

/** {@code help [COMMAND]}: the commands by group, or one command with its usage and an example. */
public final class HelpCommand implements ShellCommand {
  @Override
  public String name() {
    return "help";
  }

  @Override
  public List<String> aliases() {
    return List.of("?");
  }

  @Override
  public Group group() {
    return Group.SHELL;
  }

  @Override
  public String usage() {
    return "[COMMAND]";
  }

  @Override
  public String summary() {
    return "list the commands, or explain one";
  }

  @Override
  public String example() {
    return "help scan";
  }

  @Override
  public void run(List<String> words, ShellContext ctx) {
    var args = Args.parse(words, Set.of(), Set.of()).expect(0, 1);
    var out = ctx.out();
    if (args.count() == 1) {
      var c = ctx.commands().find(args.word(0)).orElseThrow(() -> new UsageException("no command '" + args.word(0)
          + "'" + ctx.commands().closest(args.word(0)).map(n -> "; did you mean '" + n + "'?").orElse("")));
      out.println(c.name() + (c.usage().isEmpty() ? "" : " " + c.usage()));
      out.println("  " + c.summary());
      if (!c.aliases().isEmpty()) {
        out.println("  aliases: " + String.join(", ", c.aliases()));
      }
      out.println("  example: " + c.example());
      return;
    }
    for (var group : Group.values()) {
      var members = ctx.commands().all().stream().filter(c -> c.group() == group).toList();
      if (members.isEmpty()) {
        continue;
      }
      out.println(group.title() + ":");
      for (var c : members) {
        out.printf("  %-10s %s%n", c.name(), c.summary());
      }
    }
    out.println("Keys and values may be quoted ('a b', \"a\\tb\") and hold any byte as \\xHH.");
    out.println("'help COMMAND' shows its usage and an example; 'exit' or Ctrl-D leaves.");
  }
}
