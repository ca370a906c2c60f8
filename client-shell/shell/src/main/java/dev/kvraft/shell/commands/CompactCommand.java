package dev.kvraft.shell.commands;

import dev.kvraft.shell.Args;
import dev.kvraft.shell.ShellCommand;
import dev.kvraft.shell.ShellContext;
import dev.kvraft.shell.UsageException;
import java.util.List;
import java.util.Set;

/** {@code compact REV}: drop history before a revision, like {@code etcdctl compaction}. */
public final class CompactCommand implements ShellCommand {
  private static final Spec SPEC = new Spec("compact", Group.CLUSTER,
      "REV",
      "drop history before revision REV on every node (kvraft.db's older rows); current values stay",
      "compact 1000");

  @Override
  public Spec spec() {
    return SPEC;
  }

  @Override
  public void run(List<String> words, ShellContext ctx) {
    var args = Args.parse(words, Set.of(), Set.of()).expect(1, 1);
    long rev;
    try {
      rev = Long.parseLong(args.word(0));
    } catch (NumberFormatException e) {
      throw new UsageException("compact: '" + args.word(0) + "' is not a revision (a whole number)");
    }
    if (rev < 1) {
      throw new UsageException("compact: the revision must be 1 or more, got " + rev);
    }
    ctx.out().println("compacted to revision " + ctx.client().compact(rev));
  }
}
