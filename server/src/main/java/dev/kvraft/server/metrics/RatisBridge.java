package dev.kvraft.server.metrics;

import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.CounterSnapshot.CounterDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot.GaugeDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricMetadata;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import io.prometheus.metrics.model.snapshots.PrometheusNaming;
import io.prometheus.metrics.model.snapshots.Quantile;
import io.prometheus.metrics.model.snapshots.Quantiles;
import io.prometheus.metrics.model.snapshots.SummarySnapshot;
import io.prometheus.metrics.model.snapshots.SummarySnapshot.SummaryDataPointSnapshot;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.ratis.metrics.MetricRegistries;
import org.apache.ratis.metrics.impl.RatisMetricRegistryImpl;
import org.apache.ratis.thirdparty.com.codahale.metrics.Counter;
import org.apache.ratis.thirdparty.com.codahale.metrics.Gauge;
import org.apache.ratis.thirdparty.com.codahale.metrics.Histogram;
import org.apache.ratis.thirdparty.com.codahale.metrics.Meter;
import org.apache.ratis.thirdparty.com.codahale.metrics.Metric;
import org.apache.ratis.thirdparty.com.codahale.metrics.Timer;

/**
 * Ratis's own metrics, read at scrape time. Ratis keeps them in Dropwizard registries shaded into
 * {@code org.apache.ratis.thirdparty}, which the Prometheus Dropwizard bridge cannot see; this collector walks
 * {@link MetricRegistries#global()} on every scrape and turns each metric of this node's registries into a Prometheus
 * family named {@code ratis_<component>_<metric>}, labelled with the Raft {@code member} (Ratis's registry prefix,
 * e.g. {@code n1@group-…}) and, for per-follower metrics ({@code follower_n2_match_index}, {@code n2_peerCommitIndex}),
 * the {@code peer}. Gauges stay gauges, counters and meters become counters, timers become summaries in seconds
 * (Ratis's p50/p95/p99 over its own recent window for the timers in {@link #WITH_QUANTILES}, only the count for the
 * others; Dropwizard keeps no sum, so {@code _sum} is absent).
 *
 * <p>Stateless apart from its immutable settings; the registries are Ratis's (thread-safe).
 */
public final class RatisBridge implements MultiCollector {
  /**
   * The Ratis timers whose quantiles are exported (the others only count): the disk, replication, client requests
   * and elections. Each snapshot sorts about a thousand samples, and a scrape must stay cheap.
   */
  static final java.util.Set<String> WITH_QUANTILES = java.util.Set.of("syncTime", "flushTime",
      "appendEntryLatency", "follower_append_entry_latency", "clientWriteRequest", "clientReadRequest",
      "clientStaleReadRequest", "electionTime");
  private final String nodeId;
  private final java.util.function.Supplier<List<String>> peers;

  /**
   * @param nodeId this node's Raft id: only registries whose member is this node are read (several nodes may share
   *     one JVM, and Ratis's registry is global)
   * @param peers every member id, to lift follower ids out of metric names into a {@code peer} label
   */
  public RatisBridge(String nodeId, List<String> peers) {
    this(nodeId, () -> peers);
  }

  /** As above, with the member ids read at every scrape (they change with membership changes). */
  public RatisBridge(String nodeId, java.util.function.Supplier<List<String>> peers) {
    this.nodeId = nodeId;
    this.peers = peers;
  }

  @Override
  public MetricSnapshots collect() {
    var families = new TreeMap<String, Family>();
    var members = List.copyOf(peers.get());
    for (var registry : MetricRegistries.global().getMetricRegistries()) {
      if (!(registry instanceof RatisMetricRegistryImpl impl)) {
        continue;
      }
      var info = registry.getMetricRegistryInfo();
      var member = info.getPrefix();
      if (!member.equals(nodeId) && !member.startsWith(nodeId + "@")) {
        continue;
      }
      var component = info.getMetricsComponentName();
      // Ratis names each metric "<application>.<component>.<member>.<metric>": keep only the metric.
      var head = info.getApplicationName() + "." + component + "." + member + ".";
      for (Map.Entry<String, Metric> e : impl.getDropWizardMetricRegistry().getMetrics().entrySet()) {
        var name = e.getKey().startsWith(head) ? e.getKey().substring(head.length()) : e.getKey();
        add(families, component, member, name, e.getValue(), members);
      }
    }
    var out = MetricSnapshots.builder();
    families.values().forEach(f -> out.metricSnapshot(f.snapshot()));
    return out.build();
  }

  private void add(Map<String, Family> families, String component, String member, String rawName, Metric metric,
      List<String> peers) {
    var name = rawName;
    String peer = null;
    for (var p : peers) {
      if (name.startsWith("follower_" + p + "_")) {
        peer = p;
        name = "follower_" + name.substring(("follower_" + p + "_").length());
        break;
      }
      if (name.startsWith(p + "_")) {
        peer = p;
        name = name.substring(p.length() + 1);
        break;
      }
    }
    var labels = peer == null ? Labels.of("member", member) : Labels.of("member", member, "peer", peer);
    var family = PrometheusNaming.sanitizeMetricName("ratis_" + component + "_" + name);
    switch (metric) {
      case Gauge<?> g -> {
        if (g.getValue() instanceof Number n) {
          families.computeIfAbsent(family, k -> new Family(k, Kind.GAUGE, rawName)).gauges
              .add(new GaugeDataPointSnapshot(n.doubleValue(), labels, null));
        }
      }
      case Counter c -> counter(families, family, rawName, c.getCount(), labels);
      case Meter m -> counter(families, family, rawName, m.getCount(), labels);
      case Timer t -> {
        var q = Quantiles.EMPTY;
        if (WITH_QUANTILES.contains(name)) {
          // Dropwizard timers record nanoseconds. A snapshot sorts the timer's whole reservoir: only these.
          var s = t.getSnapshot();
          q = Quantiles.of(new Quantile(0.5, s.getMedian() / 1e9), new Quantile(0.95, s.get95thPercentile() / 1e9),
              new Quantile(0.99, s.get99thPercentile() / 1e9));
        }
        summary(families, family + "_seconds", rawName, t.getCount(), q, labels);
      }
      case Histogram h -> {
        var s = h.getSnapshot();
        var q = Quantiles.of(new Quantile(0.5, s.getMedian()), new Quantile(0.95, s.get95thPercentile()),
            new Quantile(0.99, s.get99thPercentile()));
        summary(families, family, rawName, h.getCount(), q, labels);
      }
      default -> { }
    }
  }

  private static void counter(Map<String, Family> families, String family, String rawName, long count, Labels labels) {
    families.computeIfAbsent(family, k -> new Family(k, Kind.COUNTER, rawName)).counters
        .add(new CounterDataPointSnapshot(count, labels, null, 0));
  }

  private static void summary(Map<String, Family> families, String family, String rawName, long count, Quantiles q,
      Labels labels) {
    families.computeIfAbsent(family, k -> new Family(k, Kind.SUMMARY, rawName)).summaries
        .add(new SummaryDataPointSnapshot(count, Double.NaN, q, labels, null, 0));
  }

  private enum Kind { GAUGE, COUNTER, SUMMARY }

  /** The data points of one family collected so far, in one scrape (the scraping thread only). */
  private static final class Family {
    final String name;
    final Kind kind;
    final String help;
    final List<GaugeDataPointSnapshot> gauges = new ArrayList<>();
    final List<CounterDataPointSnapshot> counters = new ArrayList<>();
    final List<SummaryDataPointSnapshot> summaries = new ArrayList<>();

    Family(String name, Kind kind, String rawName) {
      this.name = name;
      this.kind = kind;
      this.help = "Ratis metric " + rawName;
    }

    io.prometheus.metrics.model.snapshots.MetricSnapshot snapshot() {
      var meta = new MetricMetadata(name, help);
      return switch (kind) {
        case GAUGE -> new GaugeSnapshot(meta, gauges);
        case COUNTER -> new CounterSnapshot(meta, counters);
        case SUMMARY -> new SummarySnapshot(meta, summaries);
      };
    }
  }
}
