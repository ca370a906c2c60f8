package dev.kvraft.bench;

import com.google.protobuf.ByteString;
import dev.kvraft.client.KvClient;
import dev.kvraft.client.KvException;
import dev.kvraft.proto.Compare;
import dev.kvraft.proto.Error;
import dev.kvraft.proto.Get;
import dev.kvraft.proto.Op;
import dev.kvraft.proto.Put;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import dev.kvraft.proto.Scan;
import dev.kvraft.proto.Txn;
import java.io.PrintStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;
import org.HdrHistogram.ConcurrentHistogram;

/**
 * {@code kvraft-bench}: drives a kvraft cluster and prints throughput, latency percentiles (HdrHistogram) and errors
 * by code, like etcd's {@code benchmark} tool. --clients requests are in flight at most (each client has one),
 * spread over {@code --conns} pipelined connections. Only acknowledged operations count as done.
 */
public final class Bench {
  /** How long the benchmark waits for one answer before counting it as a TIMEOUT. */
  private static final Duration ANSWER_TIMEOUT = Duration.ofSeconds(10);

  private final BenchOptions o;
  private final PrintStream out;
  private final PrintStream err;
  private final Duration answerTimeout;
  private final java.util.Optional<javax.net.ssl.SSLContext> tls;
  /** The nodes this run talks to (the leader alone with --target-leader); set once, by {@link #run}. */
  private List<String> endpoints = List.of();
  /** Connection set-up times, in nanoseconds; filled by {@link #connect}. */
  private final ConcurrentHistogram setupTimes = latencies();
  /** With --watchers: told of every put before it is sent. */
  private volatile BenchWatchers watches;

  /** The outcome of a run. */
  public record Result(String op, long ok, Map<String, Long> errors, Duration elapsed, double opsPerSecond,
      double minMs, double p50Ms, double p90Ms, double p99Ms, double p999Ms, double maxMs, double meanMs,
      List<Second> timeline, Setup setup) {}

  /** How long opening each connection took (TCP, the TLS handshake when on, and one status call), opened one by one. */
  public record Setup(int connections, double p50Ms, double p99Ms, double maxMs) {}

  /** With --timeline: the operations sent in one second of the run, and their latencies. */
  public record Second(int second, long ok, double p50Ms, double p99Ms, double maxMs) {}

  public Bench(BenchOptions options, PrintStream out, PrintStream err) {
    this(options, out, err, ANSWER_TIMEOUT);
  }

  Bench(BenchOptions options, PrintStream out, PrintStream err, Duration answerTimeout) {
    this.o = options;
    // One TLS context for every client of the run, as a real program would share it (building one reads the files
    // and seeds a random generator: ~20 ms, which a per-connection build would add to every 'connect').
    this.tls = options.tls().map(files -> {
      try {
        return files.context();
      } catch (java.io.IOException e) {
        throw new IllegalArgumentException(e.getMessage(), e);
      }
    });
    this.out = out;
    this.err = err;
    this.answerTimeout = answerTimeout;
  }

  public static void main(String[] args) {
    System.exit(run(args, System.out, System.err));
  }

  /** The command line: parses, runs, prints; returns the exit code (0 ok, 1 nothing acknowledged, 2 bad flags). */
  static int run(String[] args, PrintStream out, PrintStream err) {
    if (java.util.Arrays.asList(args).contains("--help") || java.util.Arrays.asList(args).contains("-h")) {
      out.print(BenchOptions.USAGE);
      return 0;
    }
    BenchOptions options;
    try {
      options = BenchOptions.parse(args);
    } catch (IllegalArgumentException e) {
      err.println("kvraft-bench: " + e.getMessage());
      err.print(BenchOptions.USAGE);
      return 2;
    }
    Bench bench;
    try {
      bench = new Bench(options, out, err);
    } catch (IllegalArgumentException e) {
      err.println("kvraft-bench: " + e.getMessage()); // an unreadable or expired TLS file, named
      return 2;
    }
    var result = bench.run();
    return result.ok() > 0 ? 0 : 1;
  }

  public Result run() {
    endpoints = o.targetLeader() ? List.of(leader()) : o.endpoints();
    var clients = new ArrayList<KvClient>();
    for (int i = 0; i < o.conns(); i++) {
      clients.add(nodeClient(endpoints.get(i % endpoints.size())));
    }
    try {
      connect(clients);
      if (o.preload()) {
        preload(clients.get(0));
      }
      warmUp(clients);
      if (o.watchers() > 0) {
        watches = BenchWatchers.start(o.watchers(), endpoints, this::nodeClient, this::key, o.keySpaceSize());
      }
      long firstRevision = o.watchCatchup() ? clients.get(0).status().getRevision() + 1 : 0;
      var result = measure(clients);
      if (watches != null) {
        watches.report(o.op().equals("put") ? result.ok() : 0, out);
      }
      if (o.watchCatchup()) {
        BenchWatchers.catchUp(clients.get(0), firstRevision, clients.get(0).status().getRevision(), out);
      }
      return result;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    } finally {
      if (watches != null) {
        watches.close();
      }
      clients.forEach(KvClient::close);
    }
  }

  private String leader() {
    var builder = KvClient.builder().addresses(o.endpoints().toArray(String[]::new));
    tls.ifPresent(builder::tls);
    o.user().ifPresent(u -> builder.credentials(u, System.getenv().getOrDefault("KVRAFT_BENCH_PASSWORD", "")));
    try (var c = builder.build()) {
      return c.members().getMembersList().stream().filter(m -> m.getLeader()).findFirst()
          .map(m -> m.getClientAddress())
          .orElseThrow(() -> new IllegalStateException("no leader is known; is the cluster up?"));
    }
  }

  private void preload(KvClient c) {
    var value = value();
    long n = o.keySpaceSize();
    int window = 2000;
    var futures = new java.util.ArrayDeque<java.util.concurrent.CompletableFuture<?>>();
    for (long i = 0; i < n; i++) {
      futures.add(c.callAsync(Request.newBuilder().setPut(Put.newBuilder().setKey(key(i)).setValue(value))));
      if (futures.size() >= window) {
        futures.poll().join();
      }
    }
    futures.forEach(java.util.concurrent.CompletableFuture::join);
    if (o.progress()) {
      err.println("preloaded " + n + " keys");
    }
  }

  /**
   * Opens every connection before the clock starts (each client asks its node for {@code status} once), so no
   * measured operation pays for a TCP or TLS handshake. One at a time, each timed: the set-up figures say what one
   * new connection costs, not how a burst of them queues.
   */
  private void connect(List<KvClient> clients) {
    for (var c : clients) {
      long t0 = System.nanoTime();
      try {
        c.status();
        setupTimes.recordValue(Math.min(System.nanoTime() - t0, setupTimes.getHighestTrackableValue()));
      } catch (KvException e) {
        // Counted where it matters: the measured operations will fail the same way.
      }
    }
  }

  /** With --warmup: the same load for that long, recorded nowhere (JIT compilation, caches, connection buffers). */
  private void warmUp(List<KvClient> clients) {
    if (o.warmup().isZero()) {
      return;
    }
    if (o.progress()) {
      err.println("warming up for " + o.warmup().toMillis() / 1000.0 + " s ...");
    }
    long start = System.nanoTime();
    // Recorded into a histogram and counters nobody reads.
    drive(clients, start, start + o.warmup().toNanos(), Long.MAX_VALUE,
        latencies(), null, new ConcurrentHashMap<>(), new LongAdder());
  }

  /** Latencies in nanoseconds up to a minute, three significant digits. */
  private static ConcurrentHistogram latencies() {
    return new ConcurrentHistogram(TimeUnit.SECONDS.toNanos(60), 3);
  }

  private Result measure(List<KvClient> clients) {
    var histogram = latencies();
    var seconds = o.timeline() ? new ConcurrentHashMap<Integer, ConcurrentHistogram>() : null;
    var errors = new ConcurrentHashMap<String, LongAdder>();
    var done = new LongAdder();
    long start = System.nanoTime();
    long end = o.duration() == null ? Long.MAX_VALUE : start + o.duration().toNanos();
    long limit = o.duration() == null ? o.total() : Long.MAX_VALUE;
    var progress = o.progress() ? startProgress(done, start, limit, end) : null;
    drive(clients, start, end, limit, histogram, seconds, errors, done);
    var elapsed = Duration.ofNanos(System.nanoTime() - start);
    if (progress != null) {
      progress.interrupt();
      err.println();
    }
    var errs = new TreeMap<String, Long>();
    errors.forEach((k, v) -> errs.put(k, v.sum()));
    double ms = 1e6;
    var result = new Result(o.op(), done.sum(), errs, elapsed, done.sum() / (elapsed.toNanos() / 1e9),
        histogram.getMinValue() / ms, histogram.getValueAtPercentile(50) / ms,
        histogram.getValueAtPercentile(90) / ms, histogram.getValueAtPercentile(99) / ms,
        histogram.getValueAtPercentile(99.9) / ms, histogram.getMaxValue() / ms, histogram.getMean() / ms,
        seconds == null ? List.of() : new TreeMap<>(seconds).entrySet().stream()
            .map(e -> new Second(e.getKey(), e.getValue().getTotalCount(), e.getValue().getValueAtPercentile(50) / ms,
                e.getValue().getValueAtPercentile(99) / ms, e.getValue().getMaxValue() / ms))
            .toList(),
        new Setup((int) setupTimes.getTotalCount(), setupTimes.getValueAtPercentile(50) / ms,
            setupTimes.getValueAtPercentile(99) / ms, setupTimes.getMaxValue() / ms));
    print(result);
    return result;
  }

  /**
   * Issues operations until {@code end} or {@code limit} of them, at most --clients in flight and, with --rate, none
   * before its time; records latencies, errors and acks as the answers arrive. With {@code seconds}, also each
   * latency under the second of the run its request was sent in.
   *
   * <p>One thread, {@code kvraft-bench-issuer}, sends every request with {@link KvClient#callAsync} on behalf of
   * whichever client is idle, and the connections' reader threads record the answers: the same load as --clients
   * threads each waiting for its answer, without waking a thread per operation. A second thread fails the requests
   * that got no answer within the answer timeout ({@link #ANSWER_TIMEOUT} outside tests).
   */
  private void drive(List<KvClient> clients, long start, long end, long limit, ConcurrentHistogram histogram,
      ConcurrentHashMap<Integer, ConcurrentHistogram> seconds, ConcurrentHashMap<String, LongAdder> errors,
      LongAdder done) {
    // Client i's request in flight, if any (an answer may come before it is set: the entry is then stale and
    // harmless); the idle clients' numbers wait in the queue.
    var inFlight = new AtomicReferenceArray<InFlight>(o.clients());
    var idle = new ArrayBlockingQueue<Integer>(o.clients());
    for (int i = 0; i < o.clients(); i++) {
      idle.add(i);
    }
    var value = value();
    var pool = o.op().equals("connect") ? Executors.newVirtualThreadPerTaskExecutor() : null;
    var issuer = Thread.ofPlatform().name("kvraft-bench-issuer").unstarted(() -> {
      var random = ThreadLocalRandom.current();
      try {
        for (long n = 0; n < limit && System.nanoTime() < end; n++) {
          pace(start, n);
          int client = idle.take();
          long keyIndex = o.sequentialKeys() ? n % o.keySpaceSize() : random.nextLong(o.keySpaceSize());
          var request = request(key(keyIndex), value, random);
          var watching = watches;
          if (watching != null && request.hasPut()) {
            watching.sending(request.getPut().getKey());
          }
          long t0 = System.nanoTime();
          var answer = o.op().equals("connect") ? connectOnce(endpoints.get((int) (n % endpoints.size())), pool)
              : clients.get(client % clients.size()).callAsync(request);
          inFlight.set(client, new InFlight(t0, answer));
          answer.whenComplete((response, failure) -> {
            try {
              if (failure == null && !response.hasError()) {
                long latency = Math.max(1, System.nanoTime() - t0);
                histogram.recordValue(latency);
                if (seconds != null) {
                  seconds.computeIfAbsent((int) ((t0 - start) / 1_000_000_000L), s -> latencies())
                      .recordValue(latency);
                }
                done.increment();
              } else {
                errors.computeIfAbsent(errorCode(request, response, failure), k -> new LongAdder()).increment();
              }
            } finally {
              inFlight.set(client, null);
              idle.add(client);
            }
          });
        }
        // Every answer (or its timeout) is in before the run ends.
        for (int i = 0; i < o.clients(); i++) {
          idle.take();
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    });
    var timeouts = Thread.ofPlatform().daemon(true).name("kvraft-bench-timeouts").start(() -> {
      try {
        while (true) {
          Thread.sleep(Math.max(1, Math.min(200, answerTimeout.toMillis() / 5)));
          long now = System.nanoTime();
          for (int i = 0; i < inFlight.length(); i++) {
            var f = inFlight.get(i);
            if (f != null && now - f.sentNanos() > answerTimeout.toNanos()) {
              f.answer().completeExceptionally(new TimeoutException("no answer within " + answerTimeout));
            }
          }
        }
      } catch (InterruptedException e) {
        // the run is over
      }
    });
    issuer.start();
    try {
      issuer.join();
    } catch (InterruptedException e) {
      issuer.interrupt();
      Thread.currentThread().interrupt();
    } finally {
      timeouts.interrupt();
      if (pool != null) {
        pool.close();
      }
    }
  }

  /** A client of one node only, with the run's TLS and answer timeout. */
  private KvClient nodeClient(String endpoint) {
    var builder = KvClient.builder().addresses(endpoint).discoverMembers(false).timeout(answerTimeout)
        .writesToLeader(!o.writesViaNode()).readsToLeader(!o.readsViaNode());
    tls.ifPresent(builder::tls);
    o.user().ifPresent(u -> builder.credentials(u, System.getenv().getOrDefault("KVRAFT_BENCH_PASSWORD", "")));
    return builder.build();
  }

  /**
   * The {@code connect} operation: a new connection to {@code endpoint} (TCP, and the TLS handshake with --cacert),
   * one {@code members} call on it, closed: what a new client costs, measured like any other operation.
   */
  private CompletableFuture<Response> connectOnce(String endpoint, java.util.concurrent.ExecutorService pool) {
    return CompletableFuture.supplyAsync(() -> {
      try (var c = nodeClient(endpoint)) {
        return c.call(Request.newBuilder().setMembers(dev.kvraft.proto.Members.getDefaultInstance()));
      }
    }, pool);
  }

  /** One client's request on its way: when it was sent, and the answer to come. */
  private record InFlight(long sentNanos, CompletableFuture<Response> answer) {}

  /**
   * The error code an operation failed with: the server's, TIMEOUT when no answer came in time, and for a lost
   * connection what {@link KvClient#call} would say ({@link KvClient#connectionLost}).
   */
  static String errorCode(Request.Builder request, Response response, Throwable failure) {
    if (failure == null) {
      return response.getError().getCode().name();
    }
    var cause = failure instanceof CompletionException && failure.getCause() != null
        ? failure.getCause() : failure;
    if (cause instanceof KvException k) {
      return k.code().name();
    }
    if (cause instanceof TimeoutException) {
      return Error.Code.TIMEOUT.name();
    }
    return KvClient.connectionLost(request, cause).code().name();
  }

  /** With --rate, operation n may not start before start + n / rate. */
  private void pace(long start, long n) {
    if (o.rate() <= 0) {
      return;
    }
    long at = start + (long) (n * 1e9 / o.rate());
    long wait = at - System.nanoTime();
    while (wait > 0) {
      LockSupport.parkNanos(wait);
      wait = at - System.nanoTime();
    }
  }

  private Request.Builder request(ByteString key, ByteString value, ThreadLocalRandom random) {
    var op = o.op();
    if (op.equals("mixed")) {
      op = random.nextDouble() < o.readRatio() ? "get" : "put";
    }
    return switch (op) {
      case "connect" -> Request.newBuilder().setMembers(dev.kvraft.proto.Members.getDefaultInstance());
      case "put" -> Request.newBuilder().setPut(Put.newBuilder().setKey(key).setValue(value));
      case "get" -> Request.newBuilder().setGet(Get.newBuilder().setKey(key).setConsistency(o.consistency()));
      case "scan" -> Request.newBuilder().setScan(Scan.newBuilder().setStart(key).setLimit(o.scanLimit())
          .setConsistency(o.consistency()));
      case "txn" -> Request.newBuilder().setTxn(Txn.newBuilder()
          .addCompare(Compare.newBuilder().setKey(key).setTarget(Compare.Target.MOD_REVISION)
              .setOperator(Compare.Operator.LESS).setModRevision(Long.MAX_VALUE))
          .addSuccess(Op.newBuilder().setPut(Put.newBuilder().setKey(key).setValue(value))));
      default -> throw new IllegalStateException(op);
    };
  }

  /** Key i as a zero-padded decimal of exactly --key-size bytes (8 bytes hold 100,000,000 keys). */
  ByteString key(long i) {
    var digits = Long.toString(i);
    var sb = new StringBuilder(o.keySize());
    for (int k = digits.length(); k < o.keySize(); k++) {
      sb.append('0');
    }
    sb.append(digits);
    return ByteString.copyFromUtf8(sb.length() > o.keySize() ? sb.substring(sb.length() - o.keySize()) : sb.toString());
  }

  private ByteString value() {
    var bytes = new byte[o.valSize()];
    ThreadLocalRandom.current().nextBytes(bytes);
    return ByteString.copyFrom(bytes);
  }

  private Thread startProgress(LongAdder done, long start, long limit, long end) {
    return Thread.ofPlatform().daemon(true).name("kvraft-bench-progress").start(() -> {
      try {
        while (true) {
          Thread.sleep(500);
          long now = System.nanoTime();
          double fraction = limit != Long.MAX_VALUE ? done.sum() / (double) limit
              : (now - start) / (double) (end - start);
          fraction = Math.min(1, fraction);
          int bar = (int) (fraction * 30);
          err.printf("\r[%s%s] %3d%%  %d ops  %.0f ops/s ", "=".repeat(bar), " ".repeat(30 - bar),
              (int) (fraction * 100), done.sum(), done.sum() / ((now - start) / 1e9));
          err.flush();
        }
      } catch (InterruptedException e) {
        // finished
      }
    });
  }

  private void print(Result r) {
    if (o.json()) {
      var m = new LinkedHashMap<String, Object>();
      m.put("op", r.op());
      m.put("clients", o.clients());
      m.put("conns", o.conns());
      m.put("ok", r.ok());
      m.put("errors", r.errors());
      m.put("seconds", r.elapsed().toMillis() / 1000.0);
      m.put("ops_per_second", Math.round(r.opsPerSecond()));
      var latency = new LinkedHashMap<String, Object>();
      latency.put("min", r.minMs());
      latency.put("p50", r.p50Ms());
      latency.put("p90", r.p90Ms());
      latency.put("p99", r.p99Ms());
      latency.put("p99.9", r.p999Ms());
      latency.put("max", r.maxMs());
      latency.put("mean", r.meanMs());
      m.put("latency_ms", latency);
      m.put("tls", o.tls().isPresent());
      var setup = new LinkedHashMap<String, Object>();
      setup.put("connections", r.setup().connections());
      setup.put("p50", r.setup().p50Ms());
      setup.put("p99", r.setup().p99Ms());
      setup.put("max", r.setup().maxMs());
      m.put("connect_ms", setup);
      if (o.timeline()) {
        m.put("timeline", r.timeline().stream().map(t -> {
          var second = new LinkedHashMap<String, Object>();
          second.put("second", t.second());
          second.put("ok", t.ok());
          second.put("p50", t.p50Ms());
          second.put("p99", t.p99Ms());
          second.put("max", t.maxMs());
          return second;
        }).toList());
      }
      out.println(dev.kvraft.client.Json.write(m));
      return;
    }
    out.printf("Summary (%s, %d clients over %d connections%s):%n", r.op(), o.clients(), o.conns(),
        o.tls().isPresent() ? ", TLS" : "");
    out.printf("  Total:        %.3f s%n", r.elapsed().toNanos() / 1e9);
    out.printf("  Done:         %d acknowledged%n", r.ok());
    out.printf("  Throughput:   %.1f ops/s%n", r.opsPerSecond());
    out.printf("  Latency (ms): min %.3f  p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f%n",
        r.minMs(), r.p50Ms(), r.p90Ms(), r.p99Ms(), r.p999Ms(), r.maxMs(), r.meanMs());
    out.printf("  Errors:       %s%n", r.errors().isEmpty() ? "none" : r.errors());
    out.printf("  Connect (ms): p50 %.3f  p99 %.3f  max %.3f  (%d connections, one at a time%s)%n",
        r.setup().p50Ms(), r.setup().p99Ms(), r.setup().maxMs(), r.setup().connections(),
        o.tls().isPresent() ? ", TLS handshake included" : "");
    if (o.timeline()) {
      out.println("Timeline (by the second a request was sent; latencies in ms):");
      for (var t : r.timeline()) {
        out.printf("  %4d s  %8d ok  p50 %8.3f  p99 %8.3f  max %8.3f%n", t.second(), t.ok(), t.p50Ms(), t.p99Ms(),
            t.maxMs());
      }
    }
  }
}
