package dev.kvraft.shell.commands;

import dev.kvraft.shell.Args;
import dev.kvraft.shell.CommandFailedException;
import dev.kvraft.shell.ShellCommand;
import dev.kvraft.shell.ShellContext;
import java.util.List;
import java.util.Set;

/** {@code leader}: the leader's id and client address. */
public final class LeaderCommand implements ShellCommand {
  @Override
  public String name() {
    return "leader";
  }

  @Override
  public Group group() {
    return Group.CLUSTER;
  }

  @Override
  public String usage() {
    return "";
  }

  @Override
  public String summary() {
    return "the current leader's id and client address";
  }

  @Override
  public String example() {
    return "leader";
  }

  @Override
  public void run(List<String> words, ShellContext ctx) {
    Args.parse(words, Set.of(), Set.of()).expect(0, 0);
    var members = ctx.client().members();
    var leader = members.getMembersList().stream().filter(m -> m.getLeader()).findFirst()
        .orElseThrow(() -> new CommandFailedException("no leader is known right now (is a quorum of nodes up?)"));
    if (ctx.format() == dev.kvraft.shell.Format.JSON) {
      ctx.out().println("{\"id\":\"" + leader.getId() + "\",\"client_address\":\"" + leader.getClientAddress() + "\"}");
    } else {
      ctx.out().println(leader.getId() + " " + leader.getClientAddress());
    }
  }
}
