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
  @Override
  public String name() {
    return "del";
  }

  @Override
  public List<String> aliases() {
    return List.of("delete", "rm");
  }

  @Override
  public List<String> options() {
    return List.of("--prefix");
  }

  @Override
  public boolean takesKey() {
    return true;
  }

  @Override
  public Group group() {
    return Group.KEYS;
  }

  @Override
  public String usage() {
    return "KEY | --prefix PREFIX | START END";
  }

  @Override
  public String summary() {
    return "delete a key, every key with a prefix, or the range [START, END)";
  }

  @Override
  public String example() {
    return "del --prefix session/";
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
