package dev.kvraft.shell.commands;

import dev.kvraft.shell.Args;
import dev.kvraft.shell.Output;
import dev.kvraft.shell.ShellCommand;
import dev.kvraft.shell.ShellContext;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Set;

/** {@code members}: every node's id and addresses, and which one leads. */
public final class MembersCommand implements ShellCommand {
  private static final Spec SPEC = new Spec("members", Group.CLUSTER,
      "",
      "every node with its client and peer address, and which one is the leader",
      "members");

  @Override
  public Spec spec() {
    return SPEC;
  }

  @Override
  public void run(List<String> words, ShellContext ctx) {
    Args.parse(words, Set.of(), Set.of()).expect(0, 0);
    var members = ctx.client().members();
    if (ctx.format() == dev.kvraft.shell.Format.JSON) {
      var list = new ArrayList<Object>();
      for (var m : members.getMembersList()) {
        var o = new LinkedHashMap<String, Object>();
        o.put("id", m.getId());
        o.put("client_address", m.getClientAddress());
        o.put("peer_address", m.getPeerAddress());
        o.put("leader", m.getLeader());
        list.add(o);
      }
      ctx.out().println(Output.toJson(list));
      return;
    }
    var rows = new ArrayList<List<String>>();
    for (var m : members.getMembersList()) {
      rows.add(List.of(m.getId(), m.getClientAddress(), m.getPeerAddress(), m.getLeader() ? "leader" : ""));
    }
    Output.table(ctx.out(), List.of("ID", "CLIENT", "PEER", "ROLE"), rows);
  }
}
