package dev.kvraft.shell.commands;

import dev.kvraft.proto.Consistency;
import dev.kvraft.shell.Args;
import dev.kvraft.shell.CommandFailedException;
import dev.kvraft.shell.Output;
import dev.kvraft.shell.ShellCommand;
import dev.kvraft.shell.ShellContext;
import dev.kvraft.shell.UsageException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Set;

/** {@code cas KEY EXPECTED NEW | cas KEY --absent NEW | cas KEY --rev N NEW}: compare-and-set. */
public final class CasCommand implements ShellCommand {
  private static final Spec SPEC = new Spec("cas", Group.TRANSACTIONS,
      "KEY EXPECTED NEW | KEY --absent NEW | KEY --rev MOD_REVISION NEW",
      "write NEW only if the key holds EXPECTED (or is absent, or is at that mod revision)",
      "cas counter 41 42")
      .withOptions(List.of("--absent", "--rev"))
      .takingKey();

  @Override
  public Spec spec() {
    return SPEC;
  }

  @Override
  public void run(List<String> words, ShellContext ctx) {
    var args = Args.parse(words, Set.of("absent"), Set.of("rev"));
    var client = ctx.client();
    boolean ok;
    if (args.has("absent") || args.has("rev")) {
      if (args.has("absent") && args.has("rev")) {
        throw new UsageException("--absent and --rev exclude each other");
      }
      args.expect(2, 2);
      ok = args.has("absent")
          ? client.cas(args.bytes(0), null, args.bytes(1))
          : client.casRevision(args.bytes(0), args.number("rev", 0), args.bytes(1));
    } else {
      args.expect(3, 3);
      ok = client.cas(args.bytes(0), args.bytes(1), args.bytes(2));
    }
    if (ctx.format() == dev.kvraft.shell.Format.JSON) {
      var m = new LinkedHashMap<String, Object>();
      m.put("succeeded", ok);
      ctx.out().println(Output.toJson(m));
    } else if (ok) {
      ctx.out().println("OK");
    }
    if (!ok) {
      var now = client.get(args.bytes(0), Consistency.LINEARIZABLE);
      throw new CommandFailedException("cas did not write: " + now.map(kv -> "the key holds '"
          + Output.show(kv.getValue()) + "' at mod revision " + kv.getModRevision()).orElse("the key does not exist"));
    }
  }
}
