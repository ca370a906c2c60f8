package dev.kvraft.bench;

import com.google.protobuf.ByteString;
import dev.kvraft.client.KvClient;
import dev.kvraft.client.WatchListener;
import dev.kvraft.client.Watcher;
import dev.kvraft.proto.Event;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import org.HdrHistogram.ConcurrentHistogram;

/**
 * {@code --watchers=N}: N watchers over the run's key space, watcher i on the i-th of N equal slices, so every put
 * reaches exactly one of them; 100 watchers share a client, the clients spread over the endpoints. Event latency is
 * from the moment the put of that key was sent (the last one, when several are in flight on one key) to the
 * moment its event arrived. {@code --watch-catchup}: after the run, one watcher over the whole key space from the
 * run's first revision, timed until it has every event of the run.
 */
final class BenchWatchers implements AutoCloseable {
  private static final int PER_CLIENT = 100;

  private final List<KvClient> clients = new ArrayList<>();
  private final List<Watcher> watchers = new ArrayList<>();
  private final ConcurrentHashMap<ByteString, Long> sent = new ConcurrentHashMap<>();
  private final ConcurrentHistogram latency = new ConcurrentHistogram(TimeUnit.SECONDS.toNanos(60), 3);
  private final LongAdder events = new LongAdder();

  /** Starts the watchers and waits until each was created. */
  static BenchWatchers start(int n, List<String> endpoints, java.util.function.Function<String, KvClient> client,
      java.util.function.LongFunction<ByteString> key, long keySpace) throws InterruptedException {
    var w = new BenchWatchers();
    var created = new java.util.concurrent.CountDownLatch(n);
    for (int i = 0; i < n; i++) {
      if (i % PER_CLIENT == 0) {
        w.clients.add(client.apply(endpoints.get(w.clients.size() % endpoints.size())));
      }
      var from = key.apply(keySpace * i / n);
      var to = i + 1 == n ? KvClient.utf8("\u007f") : key.apply(keySpace * (i + 1) / n);
      w.watchers.add(w.clients.getLast().watch(from, to, 0, new WatchListener() {
        @Override
        public void onEvents(List<Event> batch, long revision) {
          long now = System.nanoTime();
          for (var e : batch) {
            var t0 = w.sent.get(e.getKv().getKey());
            if (t0 != null) {
              w.latency.recordValue(Math.max(1, Math.min(now - t0, w.latency.getHighestTrackableValue())));
            }
          }
          w.events.add(batch.size());
        }

        @Override
        public void onProgress(long revision) {
          created.countDown();
        }
      }));
    }
    if (!created.await(60, TimeUnit.SECONDS)) {
      throw new IllegalStateException("the watchers were not all created within 60 s");
    }
    return w;
  }

  /** The issuer is about to send a put of {@code key}. */
  void sending(ByteString key) {
    sent.put(key, System.nanoTime());
  }

  /** Waits (up to 30 s) until {@code expected} events arrived, then prints what they show. */
  void report(long expected, PrintStream out) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (events.sum() < expected && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    double ms = 1e6;
    out.printf("  Watch:        %d watchers, %d events of %d acknowledged puts; latency put sent -> event (ms):"
        + " p50 %.3f  p99 %.3f  p99.9 %.3f  max %.3f%n", watchers.size(), events.sum(), expected,
        latency.getValueAtPercentile(50) / ms, latency.getValueAtPercentile(99) / ms,
        latency.getValueAtPercentile(99.9) / ms, latency.getMaxValue() / ms);
  }

  /** One watcher over everything from {@code fromRevision}: how fast history is read back. */
  static void catchUp(KvClient client, long fromRevision, long toRevision, PrintStream out)
      throws InterruptedException {
    var got = new LongAdder();
    var done = new java.util.concurrent.CountDownLatch(1);
    long t0 = System.nanoTime();
    try (var w = client.watch(KvClient.utf8("\0"), KvClient.utf8("\0"), fromRevision, (batch, revision) -> {
      got.add(batch.size());
      if (revision >= toRevision) {
        done.countDown();
      }
    })) {
      boolean all = done.await(300, TimeUnit.SECONDS);
      double seconds = (System.nanoTime() - t0) / 1e9;
      out.printf("  Catch-up:     %d events (revisions %d..%d) read back from history in %.3f s: %.0f events/s%s%n",
          got.sum(), fromRevision, toRevision, seconds, got.sum() / seconds, all ? "" : " (INCOMPLETE after 300 s)");
    }
  }

  @Override
  public void close() {
    watchers.forEach(Watcher::close);
    clients.forEach(KvClient::close);
  }
}
