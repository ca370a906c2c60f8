package dev.kvraft.shell.commands;

import com.google.protobuf.ByteString;
import dev.kvraft.client.KvClient;
import dev.kvraft.proto.Consistency;
import dev.kvraft.proto.Scan;
import dev.kvraft.shell.Args;
import dev.kvraft.shell.ShellCommand;
import dev.kvraft.shell.ShellContext;
import java.util.List;
import java.util.Set;

/** {@code count [PREFIX]}: counts keys, paging through keys-only scans. */
public final class CountCommand implements ShellCommand {
  private static final Spec SPEC = new Spec("count", Group.KEYS,
      "[PREFIX] [--stale]",
      "count the keys with a prefix (all keys without one)",
      "count user/")
      .withOptions(List.of("--stale"))
      .takingKey();

  @Override
  public Spec spec() {
    return SPEC;
  }

  @Override
  public void run(List<String> words, ShellContext ctx) {
    var args = Args.parse(words, Set.of("stale"), Set.of()).expect(0, 1);
    var prefix = args.count() == 1 ? args.bytes(0) : ByteString.EMPTY;
    var end = KvClient.prefixEnd(prefix);
    var consistency = args.has("stale") ? Consistency.STALE : Consistency.LINEARIZABLE;
    long n = 0;
    var start = prefix;
    while (true) {
      var page = ctx.client().scan(Scan.newBuilder().setStart(start).setEnd(end).setKeysOnly(true)
          .setConsistency(consistency).build());
      n += page.getKvsCount();
      if (!page.getMore() || page.getKvsCount() == 0) {
        break;
      }
      start = page.getKvs(page.getKvsCount() - 1).getKey().concat(ByteString.copyFrom(new byte[] {0}));
    }
    ctx.out().println(ctx.format() == dev.kvraft.shell.Format.JSON ? "{\"count\":" + n + "}" : String.valueOf(n));
  }
}
