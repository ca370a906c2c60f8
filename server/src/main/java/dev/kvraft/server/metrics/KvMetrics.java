package dev.kvraft.server.metrics;

import io.prometheus.metrics.core.datapoints.CounterDataPoint;
import io.prometheus.metrics.core.datapoints.DistributionDataPoint;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.List;

/**
 * The kvraft request series. Label values are bound once at construction, so {@link #request}
 * allocates nothing. Thread-safe (the Prometheus data points are); no state of its own.
 */
public final class KvMetrics {
  private final CounterDataPoint[][] requests;
  private final DistributionDataPoint[] latency;
  private final List<String> commands;

  /**
   * @param commands command names (e.g. the protobuf request cases), index = command id
   * @param results result code names, index = result id
   */
  public KvMetrics(PrometheusRegistry registry, List<String> commands, List<String> results) {
    this.commands = List.copyOf(commands);
    var counter = Counter.builder().name("kvraft_requests_total")
        .help("Client requests by command and result code").labelNames("command", "result").register(registry);
    var hist = Histogram.builder().name("kvraft_request_duration_seconds").classicOnly()
        .help("Client request latency by command, receive to answer").labelNames("command").register(registry);
    requests = new CounterDataPoint[commands.size()][results.size()];
    latency = new DistributionDataPoint[commands.size()];
    for (int c = 0; c < commands.size(); c++) {
      latency[c] = hist.labelValues(commands.get(c));
      for (int r = 0; r < results.size(); r++) {
        requests[c][r] = counter.labelValues(commands.get(c), results.get(r));
      }
    }
  }

  /** Records one answered request. */
  public void request(int command, int result, long nanos) {
    requests[command][result].inc();
    latency[command].observe(nanos / 1e9);
  }

  public List<String> commands() {
    return commands;
  }
}
