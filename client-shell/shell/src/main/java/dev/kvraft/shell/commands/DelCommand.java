package dev.kvraft.shell.commands;

import com.google.protobuf.ByteString;
import dev.kvraft.client.KvClient;
import dev.kvraft.shell.Args;
import dev.kvraft.shell.Output;
import dev.kvraft.shell.ShellCommand;
import dev.kvraft.shell.ShellContext;
import dev.kvraft.shell.UsageException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Set;

/** {@code del KEY | del --prefix PREFIX | del START END}: deletes keys. */
public final class DelCommand implements ShellCommand {
  private static final Spec SPEC = new Spec("del", Group.KEYS,
      "KEY | --prefix PREFIX | START END",
      "delete a key, every key with a prefix, or the range [START, END)",
      "del --prefix session/")
      .withOptions(List.of("--prefix"))
      .takingKey()
      .withAliases(List.of("delete", "rm"));

  @Override
  public Spec spec() {
    return SPEC;
  }

  @Override
  public void run(List<String> words, ShellContext ctx) {
    var args = Args.parse(words, Set.of("prefix"), Set.of()).expect(1, 2);
    ByteString key = args.bytes(0);
    ByteString end;
    if (args.has("prefix")) {
      if (args.count() != 1) {
        throw new UsageException("--prefix takes one PREFIX");
      }
      if (key.isEmpty()) {
        throw new UsageException("the prefix is empty; deleting every key needs: del '\\x00' with an explicit range");
      }
      end = KvClient.prefixEnd(key);
      if (end.isEmpty()) {
        end = ByteString.copyFrom(new byte[] {0});
      }
    } else {
      end = args.count() == 2 ? args.bytes(1) : ByteString.EMPTY;
    }
    long deleted = ctx.client().delete(key, end);
    switch (ctx.format()) {
      case JSON -> {
        var m = new LinkedHashMap<String, Object>();
        m.put("deleted", deleted);
        ctx.out().println(Output.toJson(m));
      }
      case RAW -> ctx.out().println(deleted);
      case TABLE -> ctx.out().println("deleted " + deleted + (deleted == 1 ? " key" : " keys"));
    }
  }
}
