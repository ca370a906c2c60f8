package dev.kvraft.shell.commands;

import dev.kvraft.shell.Args;
import dev.kvraft.shell.Output;
import dev.kvraft.shell.ShellCommand;
import dev.kvraft.shell.ShellContext;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Set;

/** {@code put KEY VALUE [--prev]}: writes a value. */
public final class PutCommand implements ShellCommand {
  private static final Spec SPEC = new Spec("put", Group.KEYS,
      "KEY VALUE [--prev] [--lease ID]",
      "write a value (--prev: print the value it replaced; --lease: deleted with lease ID)",
      "put user/42 '{\"name\": \"Ada\"}'")
      .withOptions(List.of("--prev", "--lease"))
      .takingKey()
      .withAliases(List.of("set"));

  @Override
  public Spec spec() {
    return SPEC;
  }

  @Override
  public void run(List<String> words, ShellContext ctx) {
    var args = Args.parse(words, Set.of("prev"), Set.of("lease")).expect(2, 2);
    if (args.has("lease")) {
      if (args.has("prev")) {
        throw new dev.kvraft.shell.UsageException("put: --prev and --lease do not go together yet");
      }
      long revision = ctx.client().put(args.bytes(0), args.bytes(1), LeaseCommand.number(args.value("lease"),
          "--lease"));
      ctx.out().println(ctx.format() == dev.kvraft.shell.Format.JSON ? "{\"ok\":true,\"revision\":" + revision + "}"
          : ctx.format() == dev.kvraft.shell.Format.RAW ? "OK" : "OK (revision " + revision + ")");
      return;
    }
    if (args.has("prev")) {
      var prev = ctx.client().putPrev(args.bytes(0), args.bytes(1));
      switch (ctx.format()) {
        case JSON -> ctx.out().println(prev.map(kv -> Output.toJson(Output.json(kv, true))).orElse("null"));
        case RAW -> prev.ifPresent(kv -> ctx.out().println(Output.show(kv.getValue())));
        case TABLE -> ctx.out().println(prev.map(kv -> "OK (was " + Output.show(kv.getValue()) + ")")
            .orElse("OK (new key)"));
      }
      return;
    }
    long revision = ctx.client().put(args.bytes(0), args.bytes(1));
    switch (ctx.format()) {
      case JSON -> {
        var m = new LinkedHashMap<String, Object>();
        m.put("ok", true);
        m.put("revision", revision);
        ctx.out().println(Output.toJson(m));
      }
      case RAW -> ctx.out().println("OK");
      case TABLE -> ctx.out().println("OK (revision " + revision + ")");
    }
  }
}
