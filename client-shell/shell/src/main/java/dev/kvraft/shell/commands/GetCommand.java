package dev.kvraft.shell.commands;

import dev.kvraft.proto.Consistency;
import dev.kvraft.shell.Args;
import dev.kvraft.shell.Output;
import dev.kvraft.shell.ShellCommand;
import dev.kvraft.shell.ShellContext;
import java.util.List;
import java.util.Set;

/** {@code get KEY [--stale] [--rev]}: prints a key's value. */
public final class GetCommand implements ShellCommand {
  private static final Spec SPEC = new Spec("get", Group.KEYS,
      "KEY [--stale] [--rev]",
      "print a key's value (--rev: with its revisions; --stale: from this node, no quorum round trip)",
      "get user/42")
      .withOptions(List.of("--stale", "--rev"))
      .takingKey();

  @Override
  public Spec spec() {
    return SPEC;
  }

  @Override
  public void run(List<String> words, ShellContext ctx) {
    var args = Args.parse(words, Set.of("stale", "rev"), Set.of()).expect(1, 1);
    var consistency = args.has("stale") ? Consistency.STALE : Consistency.LINEARIZABLE;
    var kv = ctx.client().get(args.bytes(0), consistency);
    if (kv.isEmpty()) {
      switch (ctx.format()) {
        case JSON -> ctx.out().println("null");
        case RAW -> { }
        case TABLE -> ctx.out().println("(not found)");
      }
      return;
    }
    if (args.has("rev") || ctx.format() == dev.kvraft.shell.Format.JSON) {
      if (ctx.format() == dev.kvraft.shell.Format.JSON) {
        ctx.out().println(Output.toJson(Output.json(kv.get(), true)));
      } else {
        Output.keyValues(ctx, List.of(kv.get()), true, true);
      }
    } else {
      ctx.out().println(Output.show(kv.get().getValue()));
    }
  }
}
