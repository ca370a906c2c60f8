package dev.kvraft.shell.commands;

import dev.kvraft.proto.Member;
import dev.kvraft.shell.Args;
import dev.kvraft.shell.Output;
import dev.kvraft.shell.ShellCommand;
import dev.kvraft.shell.ShellContext;
import dev.kvraft.shell.UsageException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Set;

/**
 * {@code member list|add|remove|promote}: the cluster's membership, like {@code etcdctl member}. Changes go to the
 * leader (the client finds it) and take effect once committed; one at a time.
 */
public final class MemberCommand implements ShellCommand {
  private static final Spec SPEC = new Spec("member", Group.CLUSTER,
      "list | add ID HOST:CLIENT_PORT:PEER_PORT [--learner] | remove ID | promote ID",
      "list: every member, voter or learner, and (from the leader) how far its log is behind. add: a node"
          + " started with --join catches up, then votes (--learner: stays a learner)."
          + " remove: takes a member out (the leader too). promote: a learner becomes a voter",
      "member add n4 10.0.0.4:7379:7380")
      .withSubcommands(List.of("list", "add", "remove", "promote")).withOptions(List.of("--learner"));

  @Override
  public Spec spec() {
    return SPEC;
  }

  @Override
  public void run(List<String> words, ShellContext ctx) {
    var args = Args.parse(words, Set.of("learner"), Set.of());
    if (args.count() == 0) {
      throw new UsageException("member needs a subcommand: list, add, remove or promote");
    }
    var sub = args.word(0);
    switch (sub) {
      case "list", "ls" -> {
        args.expect(1, 1);
        var members = ctx.client().members();
        print(ctx, members.getMembersList(), members.getLeaderId());
      }
      case "add" -> {
        args.expect(3, 3);
        var result = ctx.client().memberAdd(args.word(1), args.word(2), args.has("learner"));
        say(ctx, "added " + args.word(1) + (args.has("learner") ? " as a learner" : ""), result.getMembersList());
      }
      case "remove", "rm" -> {
        args.expect(2, 2);
        say(ctx, "removed " + args.word(1), ctx.client().memberRemove(args.word(1)).getMembersList());
      }
      case "promote" -> {
        args.expect(2, 2);
        say(ctx, "promoted " + args.word(1), ctx.client().memberPromote(args.word(1)).getMembersList());
      }
      default -> throw new UsageException("unknown member subcommand '" + sub + "': use list, add, remove or promote");
    }
  }

  private static void say(ShellContext ctx, String what, List<Member> members) {
    if (ctx.format() != dev.kvraft.shell.Format.JSON) {
      ctx.out().println(what);
    }
    print(ctx, members, "");
  }

  private static void print(ShellContext ctx, List<Member> members, String leaderId) {
    if (ctx.format() == dev.kvraft.shell.Format.JSON) {
      var list = new ArrayList<Object>();
      for (var m : members) {
        var o = new LinkedHashMap<String, Object>();
        o.put("id", m.getId());
        o.put("client_address", m.getClientAddress());
        o.put("peer_address", m.getPeerAddress());
        o.put("learner", m.getLearner());
        o.put("leader", m.getLeader() || m.getId().equals(leaderId));
        o.put("match_index", m.getMatchIndex());
        o.put("lag", m.getLag());
        list.add(o);
      }
      ctx.out().println(Output.toJson(list));
      return;
    }
    var rows = new ArrayList<List<String>>();
    for (var m : members) {
      var leader = m.getLeader() || m.getId().equals(leaderId);
      rows.add(List.of(m.getId(), m.getClientAddress(), m.getPeerAddress(),
          (m.getLearner() ? "learner" : "voter") + (leader ? ", leader" : ""),
          m.getMatchIndex() == 0 ? "-" : Long.toString(m.getMatchIndex()),
          m.getMatchIndex() == 0 ? "-" : Long.toString(m.getLag())));
    }
    Output.table(ctx.out(), List.of("ID", "CLIENT", "PEER", "ROLE", "MATCH", "LAG"), rows);
  }
}
