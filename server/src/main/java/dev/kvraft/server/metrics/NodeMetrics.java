package dev.kvraft.server.metrics;

import dev.kvraft.proto.CommandLatency;
import dev.kvraft.proto.Error;
import dev.kvraft.proto.StatusResult;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import dev.kvraft.server.db.LoopObserver;
import dev.kvraft.server.db.RequestObserver;
import dev.kvraft.server.db.RequestTrace;
import io.prometheus.metrics.core.datapoints.CounterDataPoint;
import io.prometheus.metrics.core.datapoints.DistributionDataPoint;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.instrumentation.jvm.JvmBufferPoolMetrics;
import io.prometheus.metrics.instrumentation.jvm.JvmClassLoadingMetrics;
import io.prometheus.metrics.instrumentation.jvm.JvmCompilationMetrics;
import io.prometheus.metrics.instrumentation.jvm.JvmGarbageCollectorMetrics;
import io.prometheus.metrics.instrumentation.jvm.JvmMemoryMetrics;
import io.prometheus.metrics.instrumentation.jvm.JvmMemoryPoolAllocationMetrics;
import io.prometheus.metrics.instrumentation.jvm.JvmRuntimeInfoMetric;
import io.prometheus.metrics.instrumentation.jvm.ProcessMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.HistogramSnapshot;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Every metric of one node, in a registry of its own (several nodes may share a JVM in tests): the request series
 * ({@link KvMetrics}), the node gauges ({@link NodeGauges}), the database loop's turns and proposals, the JVM, and
 * Ratis's own metrics ({@link RatisBridge}). It is the {@link RequestObserver} (counts, latency, slow-request log)
 * and the {@link LoopObserver} the database loop reports to.
 *
 * <p>Thread-safe: the Prometheus data points are; the rest is immutable after construction.
 */
public final class NodeMetrics implements RequestObserver, LoopObserver {
  private static final List<Request.CommandCase> COMMANDS = List.of(Request.CommandCase.values());
  private static final List<Error.Code> CODES =
      List.of(Error.Code.values()).stream().filter(c -> c != Error.Code.UNRECOGNIZED).toList();

  private final PrometheusRegistry registry = new PrometheusRegistry();
  private final KvMetrics requests;
  private final SlowRequestLog slow;
  private final DistributionDataPoint turnEvents;
  private final DistributionDataPoint turnSeconds;
  private final DistributionDataPoint proposalOps;
  private final DistributionDataPoint proposalBytes;
  private final CounterDataPoint loopBusyPoint;
  private final CounterDataPoint loopTurnsPoint;
  private final CounterDataPoint[] forwarded;

  /**
   * @param nodeId this node's id, to pick its Ratis registries
   * @param peers every member id
   * @param slow the slow-request log, or null for none
   */
  public NodeMetrics(String nodeId, List<String> peers, NodeSource node, SlowRequestLog slow) {
    this(nodeId, () -> peers, node, slow);
  }

  /** As above, with the member ids read at every scrape (membership changes add and remove them). */
  public NodeMetrics(String nodeId, java.util.function.Supplier<List<String>> peers, NodeSource node,
      SlowRequestLog slow) {
    var commands = COMMANDS.stream().map(NodeMetrics::commandName).toList();
    var results = new ArrayList<String>();
    results.add("ok");
    CODES.forEach(c -> results.add(c.name().toLowerCase(Locale.ROOT)));
    this.requests = new KvMetrics(registry, commands, results);
    this.slow = slow;
    NodeGauges.register(registry, node);
    var loopBusy = Counter.builder().name("kvraft_loop_busy_seconds")
        .help("Time the database loop spent working, not waiting: its rate is the loop's busy fraction")
        .register(registry);
    var loopTurns = Counter.builder().name("kvraft_loop_turns").help("Turns of the database loop that handled events")
        .register(registry);
    loopBusyPoint = loopBusy.labelValues();
    loopTurnsPoint = loopTurns.labelValues();
    turnEvents = Histogram.builder().name("kvraft_loop_turn_events").classicOnly()
        .classicUpperBounds(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
        .help("Events (commands, applies, answers) the database loop handled in one turn").register(registry)
        .labelValues();
    turnSeconds = Histogram.builder().name("kvraft_loop_turn_duration_seconds").classicOnly()
        .classicUpperBounds(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)
        .help("Time the database loop spent on one turn (one batch of events), not counting the wait for it")
        .register(registry).labelValues();
    proposalOps = Histogram.builder().name("kvraft_proposal_ops").classicOnly()
        .classicUpperBounds(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
        .help("Client writes per proposed log entry (group commit)").register(registry).labelValues();
    proposalBytes = Histogram.builder().name("kvraft_proposal_bytes").classicOnly()
        .classicUpperBounds(64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304)
        .help("Bytes per proposed log entry").register(registry).labelValues();
    var forwardedCounter = Counter.builder().name("kvraft_forwarded_requests")
        .help("Requests a follower forwarded to this node as leader (counted in kvraft_requests_total on the"
            + " follower that received them), by command").labelNames("command").register(registry);
    forwarded = new CounterDataPoint[commands.size()];
    for (int c = 0; c < commands.size(); c++) {
      forwarded[c] = forwardedCounter.labelValues(commands.get(c));
    }
    jvm(registry);
    registry.register(new RatisBridge(nodeId, peers));
  }

  /**
   * The JVM and process series that are cheap to read on every scrape. Left out: JvmThreadsMetrics (counting threads
   * by state takes a safepoint that stops every thread) and JvmNativeMemoryMetrics (a diagnostic command per scrape);
   * the thread count comes from {@code kvraft_jvm_threads} instead.
   */
  private static void jvm(PrometheusRegistry registry) {
    JvmMemoryMetrics.builder().register(registry);
    JvmMemoryPoolAllocationMetrics.builder().register(registry);
    JvmGarbageCollectorMetrics.builder().register(registry);
    JvmBufferPoolMetrics.builder().register(registry);
    JvmClassLoadingMetrics.builder().register(registry);
    JvmCompilationMetrics.builder().register(registry);
    JvmRuntimeInfoMetric.builder().register(registry);
    ProcessMetrics.builder().register(registry);
    var threads = java.lang.management.ManagementFactory.getThreadMXBean();
    io.prometheus.metrics.core.metrics.GaugeWithCallback.builder().name("kvraft_jvm_threads")
        .help("Live platform threads of the JVM (virtual threads are not counted)")
        .callback(cb -> cb.call(threads.getThreadCount())).register(registry);
  }

  public PrometheusRegistry registry() {
    return registry;
  }

  @Override
  public void answered(Request request, Response response, RequestTrace trace) {
    long now = System.nanoTime();
    int command = request.getCommandCase().ordinal();
    if (request.getForwarded()) {
      // Counted, with its latency, on the node the client sent it to; here only that it passed through.
      forwarded[command].inc();
      return;
    }
    int code = response.hasError() ? CODES.indexOf(response.getError().getCode()) : -1;
    // Result 0 is "ok"; an error is 1 + its code's index (UNRECOGNIZED, never sent, counts as UNKNOWN).
    int result = response.hasError() ? 1 + Math.max(0, code) : 0;
    requests.request(command, result, now - trace.received());
    if (slow != null) {
      logIfSlow(slow, request, trace, now);
    }
  }

  /** The label of a command in the series and the slow-request log: "put", "get", ..., "none". */
  private static String commandName(Request.CommandCase c) {
    return c == Request.CommandCase.COMMAND_NOT_SET ? "none" : c.name().toLowerCase(Locale.ROOT);
  }

  private static void logIfSlow(SlowRequestLog slow, Request request, RequestTrace trace, long now) {
    if (now - trace.received() >= slow.thresholdNanos()) {
      var phases = trace.phases(now);
      slow.record(commandName(request.getCommandCase()), keyOf(request), trace.connection(), phases.queueNanos(),
          phases.raftNanos(), phases.applyNanos());
    }
  }

  /** With metrics off: an observer that records nothing and only logs slow requests. */
  public static RequestObserver slowRequestsOnly(SlowRequestLog slow) {
    return (request, response, trace) -> {
      if (!request.getForwarded()) {
        logIfSlow(slow, request, trace, System.nanoTime());
      }
    };
  }

  private static String keyOf(Request r) {
    return switch (r.getCommandCase()) {
      case PUT -> r.getPut().getKey().toStringUtf8();
      case GET -> r.getGet().getKey().toStringUtf8();
      case DELETE -> r.getDelete().getKey().toStringUtf8();
      case SCAN -> r.getScan().getStart().toStringUtf8();
      default -> null;
    };
  }

  @Override
  public void turn(int events, long busyNanos) {
    loopTurnsPoint.inc();
    loopBusyPoint.inc(busyNanos / 1e9);
    turnEvents.observe(events);
    turnSeconds.observe(busyNanos / 1e9);
  }

  @Override
  public void proposed(int ops, int bytes) {
    proposalOps.observe(ops);
    proposalBytes.observe(bytes);
  }

  @Override
  public void describe(StatusResult.Builder status) {
    for (var l : latencies()) {
      status.addLatencies(CommandLatency.newBuilder().setCommand(l.command()).setCount(l.count())
          .setP99Ms(l.p99Millis()));
    }
  }

  /** Latency of one command since start, for {@code kvsh status}. */
  public record Latency(String command, long count, double p99Millis) {}

  /**
   * The p99 latency of each command answered at least once since start, estimated from the histogram buckets (the
   * upper bound of the bucket the 99th percentile falls in, as Prometheus's histogram_quantile would interpolate).
   */
  public List<Latency> latencies() {
    var out = new ArrayList<Latency>();
    for (var m : registry.scrape(name -> name.equals("kvraft_request_duration_seconds"))) {
      if (!(m instanceof HistogramSnapshot h)) {
        continue;
      }
      for (var p : h.getDataPoints()) {
        long count = p.getCount();
        if (count == 0) {
          continue;
        }
        long target = (long) Math.ceil(count * 0.99);
        double upper = Double.NaN;
        var buckets = p.getClassicBuckets();
        long cumulative = 0;
        double lower = 0;
        for (int i = 0; i < buckets.size(); i++) {
          long inBucket = buckets.getCount(i);
          double bound = buckets.getUpperBound(i);
          if (cumulative + inBucket >= target) {
            upper = Double.isInfinite(bound) ? lower
                : lower + (bound - lower) * (target - cumulative) / (double) Math.max(1, inBucket);
            break;
          }
          cumulative += inBucket;
          lower = bound;
        }
        out.add(new Latency(p.getLabels().get("command"), count, upper * 1000));
      }
    }
    return out;
  }
}
