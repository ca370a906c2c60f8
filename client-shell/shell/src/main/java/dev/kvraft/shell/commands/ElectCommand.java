package dev.kvraft.shell.commands;

import dev.kvraft.shell.Args;
import dev.kvraft.shell.CommandFailedException;
import dev.kvraft.shell.Output;
import dev.kvraft.shell.ShellCommand;
import dev.kvraft.shell.ShellContext;
import dev.kvraft.shell.UsageException;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;

/**
 * {@code elect NAME VALUE [--ttl S]} campaigns and, once leading, holds the leadership until Ctrl-C;
 * {@code elect --observe NAME [--count N]} prints each leader's value as it changes. Like {@code etcdctl elect}.
 */
public final class ElectCommand implements ShellCommand {
  private static final Spec SPEC = new Spec("elect", Group.KEYS,
      "NAME VALUE [--ttl S] | --observe NAME [--count N]",
      "campaign in election NAME with VALUE and lead until Ctrl-C (a leader that dies is replaced after the TTL);"
          + " --observe prints each leader's value",
      "elect --observe scheduler --count 1")
      .withOptions(List.of("--ttl", "--observe", "--count"));

  @Override
  public Spec spec() {
    return SPEC;
  }

  @Override
  public void run(List<String> words, ShellContext ctx) {
    var args = Args.parse(words, Set.of("observe"), Set.of("ttl", "count"));
    try {
      if (args.has("observe")) {
        args.expect(1, 1);
        var stop = new CountDownLatch(1);
        ctx.onInterrupt(stop::countDown);
        try {
          observe(ctx, args.word(0), args.number("count", 0), stop);
        } finally {
          ctx.onInterrupt(null);
        }
      } else {
        args.expect(2, 2);
        campaign(ctx, args.word(0), args.bytes(1), args.number("ttl", LockCommand.DEFAULT_TTL));
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static void campaign(ShellContext ctx, String name, com.google.protobuf.ByteString value, long ttl)
      throws InterruptedException {
    if (ttl < 1) {
      throw new UsageException("elect: --ttl must be 1 or more seconds");
    }
    var election = ctx.client().election(name);
    try (var leadership = election.campaign(value, ttl)) {
      ctx.out().println("leading " + name + " with " + Output.show(value) + "; Ctrl-C resigns");
      ctx.out().flush();
      if (!ctx.holdUntilInterrupted(leadership::isHeld)) {
        throw new CommandFailedException("lost the leadership of " + name + ": its lease is gone");
      }
    }
  }

  private static void observe(ShellContext ctx, String name, long count, CountDownLatch stop)
      throws InterruptedException {
    var seen = new AtomicLong();
    var failure = new java.util.concurrent.atomic.AtomicReference<dev.kvraft.client.KvException>();
    var out = ctx.out();
    try (var watcher = ctx.client().election(name).observe(leader -> {
      synchronized (out) {
        out.println(leader.map(kv -> Output.show(kv.getValue())).orElse("(no leader)"));
        out.flush();
      }
      if (count > 0 && seen.incrementAndGet() >= count) {
        stop.countDown();
      }
    }, e -> {
      failure.set(e);
      stop.countDown();
    })) {
      stop.await();
    }
    if (failure.get() != null) {
      throw failure.get(); // the observation ended: say why, rather than wait on forever
    }
  }
}
