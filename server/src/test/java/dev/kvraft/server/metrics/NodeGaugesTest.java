package dev.kvraft.server.metrics;

import static org.junit.jupiter.api.Assertions.*;

import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

class NodeGaugesTest {
  private volatile long commit = 10;

  private final NodeSource source = new NodeSource() {
    @Override public long term() { return 3; }
    @Override public int role() { return 2; }
    @Override public long commitIndex() { return commit; }
    @Override public long appliedIndex() { return commit; }
    @Override public int queuedCommands() { return 4; }
    @Override public int inFlightCommands() { return 5; }
    @Override public long mirrorLag() { return 0; }
    @Override public long mirrorRows() { return 7; }
    @Override public long databaseFileBytes() { return 4096; }
    @Override public List<Follower> followers() { return List.of(new Follower("n2", 8), new Follower("n3", 10)); }
  };

  private static String scrape(PrometheusRegistry registry) throws Exception {
    var out = new ByteArrayOutputStream();
    PrometheusTextFormatWriter.create().write(out, registry.scrape());
    return out.toString(StandardCharsets.UTF_8);
  }

  @Test
  void gaugesFollowTheSourceAtScrapeTime() throws Exception {
    var registry = new PrometheusRegistry();
    NodeGauges.register(registry, source);
    var body = scrape(registry);
    assertTrue(body.contains("kvraft_raft_term 3.0"), body);
    assertTrue(body.contains("kvraft_raft_follower_lag_entries{peer=\"n2\"} 2.0"), body);
    assertTrue(body.contains("kvraft_raft_follower_lag_entries{peer=\"n3\"} 0.0"), body);
    commit = 20;
    body = scrape(registry);
    assertTrue(body.contains("kvraft_raft_commit_index 20.0"), body);
    assertTrue(body.contains("kvraft_raft_follower_lag_entries{peer=\"n2\"} 12.0"), body);
  }
}
