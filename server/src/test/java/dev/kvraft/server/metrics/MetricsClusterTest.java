package dev.kvraft.server.metrics;

import static org.junit.jupiter.api.Assertions.*;

import dev.kvraft.server.KvraftServer;
import dev.kvraft.server.config.ServerConfig;
import dev.kvraft.server.testing.Await;
import dev.kvraft.server.testing.Nodes;
import dev.kvraft.server.testing.RawClient;
import dev.kvraft.server.testing.Requests;
import dev.kvraft.server.testing.TestNodes;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * /metrics and /health of a real three-node cluster: the series an operator watches move as they should.
 */
class MetricsClusterTest {
  private static final Duration DEADLINE = Duration.ofSeconds(20);
  private final KvraftServer[] servers = new KvraftServer[3];
  private List<ServerConfig> configs;

  @AfterEach
  void stopAll() {
    for (var s : servers) {
      if (s != null) {
        s.close();
      }
    }
  }

  private int leader() throws Exception {
    return java.util.Arrays.asList(servers).indexOf(Nodes.awaitLeader(DEADLINE, servers));
  }

  /** Polls a node's endpoint until the condition holds. */
  private Scrape awaitScrape(int node, String path, java.util.function.Predicate<Scrape> condition, String what)
      throws Exception {
    return Await.until("node n" + (node + 1) + " " + what + " (" + path + ")", DEADLINE,
        () -> Scrape.get(servers[node].metricsPort(), path), condition);
  }

  @Test
  void seriesMoveWithLoadLeaderChangesAndQuorumLoss(@TempDir Path dir) throws Exception {
    configs = TestNodes.cluster(dir, 3, Map.of());
    for (int i = 0; i < 3; i++) {
      servers[i] = KvraftServer.start(configs.get(i));
    }
    int leader = leader();
    int follower = (leader + 1) % 3;
    int other = (leader + 2) % 3;

    // Puts sent to a follower are counted there, with their latency; the leader only sees them forwarded.
    int puts = 40;
    try (var c = new RawClient(servers[follower].clientPort())) {
      for (int i = 0; i < puts; i++) {
        var r = c.call(Requests.put(i + 1, "metrics/" + i, "v" + i));
        assertFalse(r.hasError(), r.toString());
      }
    }
    var onFollower = Scrape.get(servers[follower].metricsPort(), "/metrics");
    assertEquals(puts, onFollower.sum("kvraft_requests_total", "command=\"put\"", "result=\"ok\""), onFollower.body());
    assertEquals(puts, onFollower.sum("kvraft_request_duration_seconds_count", "command=\"put\""));
    assertTrue(onFollower.sum("kvraft_client_received_bytes_total") > 0);
    assertEquals(0, onFollower.sum("kvraft_raft_role"));
    var onLeader = Scrape.get(servers[leader].metricsPort(), "/metrics");
    assertEquals(0, onLeader.sum("kvraft_requests_total", "command=\"put\""), onLeader.body());
    // At least once each: a forward the new leader answered UNAVAILABLE (not ready yet) is sent again.
    assertTrue(onLeader.sum("kvraft_forwarded_requests_total", "command=\"put\"") >= puts, onLeader.body());
    assertEquals(2, onLeader.sum("kvraft_raft_role"));
    assertTrue(onLeader.sum("kvraft_proposal_ops_count") >= 1, "proposals are counted on the leader");

    // The leader reports each follower's match index and lag, ours and Ratis's (bridged with member and peer).
    for (int f : new int[] {follower, other}) {
      var peer = "peer=\"n" + (f + 1) + "\"";
      assertTrue(onLeader.samples().keySet().stream().anyMatch(s -> s.startsWith("kvraft_raft_follower_lag_entries{")
          && s.contains(peer)), onLeader.body());
      awaitScrape(leader, "/metrics", s -> s.sum("kvraft_raft_follower_match_index", peer)
          >= s.sum("kvraft_raft_commit_index") && s.sum("kvraft_raft_commit_index") > 0,
          "follower n" + (f + 1) + " catches up with the commit index");
      assertTrue(onLeader.samples().keySet().stream().anyMatch(s -> s.startsWith("ratis_")
          && s.contains(peer) && s.contains("member=\"n" + (leader + 1) + "@")), onLeader.body());
    }
    assertTrue(onLeader.names().contains("jvm_memory_used_bytes"), "JVM metrics are exported");
    assertTrue(onLeader.names().stream().anyMatch(n -> n.startsWith("ratis_log_worker_")), onLeader.body());

    // Every series the shipped Grafana dashboard queries exists on a node of this cluster.
    var exported = new java.util.TreeSet<String>(onLeader.names());
    exported.addAll(Scrape.get(servers[follower].metricsPort(), "/metrics").names());
    var dashboard = Dashboard.load();
    assertFalse(dashboard.seriesNames().isEmpty(), "the dashboard queries something");
    for (var name : dashboard.seriesNames()) {
      assertTrue(exported.contains(name), "the dashboard queries " + name + ", which no node exports");
    }

    // Killing the leader: a survivor counts the leader change, and is healthy again under the new leader.
    double changesBefore = onFollower.sum("kvraft_raft_leader_changes_total");
    servers[leader].close();
    servers[leader] = null;
    awaitScrape(follower, "/metrics", s -> s.sum("kvraft_raft_leader_changes_total") > changesBefore,
        "counts a leader change after the leader was killed");
    awaitScrape(follower, "/health", s -> s.status() == 200, "is healthy under the new leader");
    assertEquals(200, Scrape.get(servers[follower].metricsPort(), "/ready").status());

    // Cut off from the quorum (the third node stops too): unhealthy, with the reason; healthy again once a peer
    // is back.
    servers[other].close();
    servers[other] = null;
    var down = awaitScrape(follower, "/health", s -> s.status() == 503, "turns unhealthy without a quorum");
    assertTrue(down.body().contains("leader"), down.body());
    assertEquals(200, Scrape.get(servers[follower].metricsPort(), "/ready").status(),
        "still serving clients (they get UNAVAILABLE), so ready");
    servers[other] = KvraftServer.start(configs.get(other));
    awaitScrape(follower, "/health", s -> s.status() == 200, "is healthy again once a quorum is back");
  }
}
