package dev.kvraft.shell.commands;

import dev.kvraft.proto.AuthChange;
import dev.kvraft.shell.Args;
import dev.kvraft.shell.ShellCommand;
import dev.kvraft.shell.ShellContext;
import dev.kvraft.shell.UsageException;
import java.util.List;
import java.util.Set;

/** {@code auth enable|disable|status}, like {@code etcdctl auth}. */
public final class AuthCommand implements ShellCommand {
  private static final Spec SPEC = new Spec("auth", Group.AUTH,
      "enable | disable | status",
      "turn user and role checks on (refused until a user has the root role) or off, or say whether they are on",
      "auth enable")
      .withSubcommands(List.of("enable", "disable", "status"));

  @Override
  public Spec spec() {
    return SPEC;
  }

  @Override
  public void run(List<String> words, ShellContext ctx) {
    var args = Args.parse(words, Set.of(), Set.of()).expect(1, 1);
    switch (args.word(0)) {
      case "enable" -> {
        ctx.client().authChange(AuthChange.newBuilder().setAction(AuthChange.Action.AUTH_ENABLE));
        ctx.out().println("Authentication Enabled");
      }
      case "disable" -> {
        ctx.client().authChange(AuthChange.newBuilder().setAction(AuthChange.Action.AUTH_DISABLE));
        ctx.out().println("Authentication Disabled");
      }
      case "status" -> ctx.out().println("Authentication Status: " + ctx.client().authRead().getEnabled());
      default -> throw new UsageException("unknown auth subcommand '" + args.word(0)
          + "': use enable, disable or status");
    }
  }
}
