package dev.kvraft.shell.commands;

import dev.kvraft.proto.Member;
import dev.kvraft.shell.Args;
import dev.kvraft.shell.CommandFailedException;
import dev.kvraft.shell.Output;
import dev.kvraft.shell.ShellCommand;
import dev.kvraft.shell.ShellContext;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/** {@code leader [transfer [ID]]}: the leader's id and client address, or hand leadership to another member. */
public final class LeaderCommand implements ShellCommand {
  private static final Spec SPEC = new Spec("leader", Group.CLUSTER,
      "[transfer [ID]]",
      "the current leader's id and client address (waits for an election under way); transfer: hand leadership"
          + " to member ID, or to the most up-to-date follower",
      "leader transfer n2");

  @Override
  public Spec spec() {
    return SPEC;
  }

  @Override
  public void run(List<String> words, ShellContext ctx) {
    Args.parse(words, Set.of(), Set.of()).expect(0, 2);
    if (!words.isEmpty()) {
      if (!words.get(0).equals("transfer")) {
        throw new dev.kvraft.shell.UsageException("leader takes no argument but 'transfer [ID]', got '"
            + words.get(0) + "'");
      }
      var now = ctx.client().transferLeader(words.size() > 1 ? words.get(1) : "");
      if (ctx.format() == dev.kvraft.shell.Format.JSON) {
        ctx.out().println(Output.toJson(java.util.Map.of("leader_id", now)));
      } else {
        ctx.out().println("leader is now " + now);
      }
      return;
    }
    // An election may be under way: ask again until the client's timeout before saying there is none.
    long deadline = System.nanoTime() + ctx.client().timeout().toNanos();
    var leader = leader(ctx);
    while (leader.isEmpty() && System.nanoTime() < deadline) {
      try {
        Thread.sleep(100);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
      leader = leader(ctx);
    }
    var found = leader.orElseThrow(() -> new CommandFailedException(
        "no leader is known right now (is a quorum of nodes up?)"));
    if (ctx.format() == dev.kvraft.shell.Format.JSON) {
      var m = new LinkedHashMap<String, Object>();
      m.put("id", found.getId());
      m.put("client_address", found.getClientAddress());
      ctx.out().println(Output.toJson(m));
    } else {
      ctx.out().println(found.getId() + " " + found.getClientAddress());
    }
  }

  private static Optional<Member> leader(ShellContext ctx) {
    return ctx.client().members().getMembersList().stream().filter(Member::getLeader).findFirst();
  }
}
