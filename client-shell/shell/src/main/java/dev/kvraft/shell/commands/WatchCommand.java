package dev.kvraft.shell.commands;

import dev.kvraft.client.KvClient;
import dev.kvraft.client.KvException;
import dev.kvraft.client.WatchListener;
import dev.kvraft.proto.Event;
import dev.kvraft.proto.Watch;
import dev.kvraft.shell.Args;
import dev.kvraft.shell.CommandFailedException;
import dev.kvraft.shell.Format;
import dev.kvraft.shell.Output;
import dev.kvraft.shell.ShellCommand;
import dev.kvraft.shell.ShellContext;
import dev.kvraft.shell.UsageException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * {@code watch KEY | --prefix P | --range A B [--rev N] [--prev-kv] [--count N]}: prints changes as they come, like
 * {@code etcdctl watch}, until Ctrl-C (back to the prompt) or {@code --count} events.
 */
public final class WatchCommand implements ShellCommand {
  private static final Spec SPEC = new Spec("watch", Group.KEYS,
      "KEY | --prefix P | --range START END  [--rev N] [--prev-kv] [--count N]",
      "print every change to a key, prefix or range as it happens (from revision N with --rev), until Ctrl-C",
      "watch --prefix config/ --count 1")
      .withOptions(List.of("--prefix", "--range", "--rev", "--prev-kv", "--count"))
      .takingKey();

  @Override
  public Spec spec() {
    return SPEC;
  }

  @Override
  public void run(List<String> words, ShellContext ctx) {
    var args = Args.parse(words, Set.of("prev-kv", "range"), Set.of("prefix", "rev", "count"));
    var watch = Watch.newBuilder().setPrevKv(args.has("prev-kv"));
    if (args.has("prefix")) {
      args.expect(0, 0);
      var prefix = args.bytesValue("prefix");
      if (prefix.isEmpty()) {
        throw new UsageException("watch: --prefix needs a non-empty prefix (watch every key with --range '' '')");
      }
      var end = KvClient.prefixEnd(prefix);
      watch.setKey(prefix).setRangeEnd(end.isEmpty() ? KvClient.utf8("\0") : end);
    } else if (args.has("range")) {
      args.expect(2, 2);
      var start = args.bytes(0);
      var end = args.bytes(1);
      watch.setKey(start.isEmpty() ? KvClient.utf8("\0") : start).setRangeEnd(end.isEmpty() ? KvClient.utf8("\0")
          : end);
    } else {
      args.expect(1, 1);
      watch.setKey(args.bytes(0));
    }
    long rev = args.number("rev", 0);
    long count = args.number("count", 0);
    if (rev < 0 || count < 0) {
      throw new UsageException("watch: --rev and --count take a number of 0 or more");
    }
    watch.setStartRevision(rev);

    var done = new CountDownLatch(1);
    var seen = new AtomicLong();
    var failure = new AtomicReference<KvException>();
    var out = ctx.out();
    WatchListener listener = new WatchListener() {
      @Override
      public void onEvents(List<Event> events, long revision) {
        synchronized (out) {
          for (var e : events) {
            if (count > 0 && seen.get() >= count) {
              break;
            }
            out.println(ctx.format() == Format.JSON ? json(e) : line(e));
            seen.incrementAndGet();
          }
          out.flush();
        }
        if (count > 0 && seen.get() >= count) {
          done.countDown();
        }
      }

      @Override
      public void onError(KvException e) {
        failure.set(e);
        done.countDown();
      }
    };
    var interrupted = new java.util.concurrent.atomic.AtomicBoolean();
    try (var watcher = ctx.client().watch(watch.build(), listener)) {
      ctx.onInterrupt(() -> {
        interrupted.set(true);
        done.countDown();
      });
      done.await();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      ctx.onInterrupt(null);
    }
    if (failure.get() != null) {
      throw failure.get();
    }
    if (interrupted.get() && ctx.format() != Format.JSON) {
      ctx.err().println("(watch stopped after " + seen.get() + " events)");
    }
  }

  /** {@code PUT key value rev=N [prev=V]} or {@code DELETE key rev=N [prev=V]}. */
  static String line(Event e) {
    var kv = e.getKv();
    var sb = new StringBuilder(e.getType().name()).append(' ').append(Output.show(kv.getKey()));
    if (e.getType() == Event.Type.PUT) {
      sb.append(' ').append(Output.show(kv.getValue()));
    }
    sb.append(" rev=").append(kv.getModRevision());
    if (e.hasPrevKv()) {
      sb.append(" prev=").append(Output.show(e.getPrevKv().getValue()));
    }
    return sb.toString();
  }

  static String json(Event e) {
    var m = new LinkedHashMap<String, Object>();
    m.put("type", e.getType().name());
    m.putAll(Output.json(e.getKv(), e.getType() == Event.Type.PUT));
    if (e.hasPrevKv()) {
      m.put("prev", Output.json(e.getPrevKv(), true));
    }
    return Output.toJson(m);
  }
}
