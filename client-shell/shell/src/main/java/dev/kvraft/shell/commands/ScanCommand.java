package dev.kvraft.shell.commands;

import com.google.protobuf.ByteString;
import dev.kvraft.client.KvClient;
import dev.kvraft.proto.Consistency;
import dev.kvraft.proto.Scan;
import dev.kvraft.shell.Args;
import dev.kvraft.shell.Format;
import dev.kvraft.shell.Output;
import dev.kvraft.shell.ShellCommand;
import dev.kvraft.shell.ShellContext;
import java.util.List;
import java.util.Set;

/** {@code scan [PREFIX] | scan --range START END}: lists keys in order. */
public final class ScanCommand implements ShellCommand {
  static final long DEFAULT_LIMIT = 100;
  private static final Spec SPEC = new Spec("scan", Group.KEYS,
      "[PREFIX] | --range START [END]  [--limit N] [--keys-only] [--rev] [--stale]",
      "list keys with a prefix, or in [START, END), in key order (default --limit " + DEFAULT_LIMIT + ")",
      "scan user/ --limit 10")
      .withOptions(List.of("--range", "--limit", "--keys-only", "--rev", "--stale"))
      .takingKey()
      .withAliases(List.of("ls"));

  @Override
  public Spec spec() {
    return SPEC;
  }


  @Override
  public void run(List<String> words, ShellContext ctx) {
    var args = Args.parse(words, Set.of("keys-only", "rev", "stale", "range"), Set.of("limit")).expect(0, 2);
    var scan = Scan.newBuilder()
        .setLimit((int) Math.min(Integer.MAX_VALUE, args.number("limit", DEFAULT_LIMIT)))
        .setKeysOnly(args.has("keys-only"))
        .setConsistency(args.has("stale") ? Consistency.STALE : Consistency.LINEARIZABLE);
    if (args.has("range")) {
      args.expect(1, 2);
      scan.setStart(args.bytes(0)).setEnd(args.count() == 2 ? args.bytes(1) : ByteString.EMPTY);
    } else {
      args.expect(0, 1);
      if (args.count() == 1) {
        var prefix = args.bytes(0);
        scan.setStart(prefix).setEnd(KvClient.prefixEnd(prefix));
      }
    }
    var result = ctx.client().scan(scan.build());
    Output.keyValues(ctx, result.getKvsList(), !args.has("keys-only"), args.has("rev"));
    if (result.getMore() && ctx.format() == Format.TABLE) {
      ctx.out().println("(more keys follow: the answer reached --limit or the server's limit.answer.bytes;"
          + " scan again from the last key shown)");
    }
  }
}
