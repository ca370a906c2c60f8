package dev.kvraft.server.metrics;

import static org.junit.jupiter.api.Assertions.*;

import dev.kvraft.server.KvraftServer;
import dev.kvraft.server.config.ServerConfig;
import dev.kvraft.server.testing.Await;
import dev.kvraft.server.testing.Nodes;
import dev.kvraft.server.testing.RawClient;
import dev.kvraft.server.testing.Requests;
import dev.kvraft.server.testing.RunningServers;
import dev.kvraft.server.testing.TestNodes;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * /metrics and /health of a real three-node cluster: the series an operator watches move as they should.
 */
class MetricsClusterTest {
  private static final Duration DEADLINE = Duration.ofSeconds(20);
  /**
   * Attempts at the load phase: another is made only when one failed and its leader did not lead throughout (a
   * loaded machine can delay heartbeats past an election timeout), since the phase's counts assume one leader.
   */
  private static final int LOAD_ATTEMPTS = 3;
  /** Closes the servers still running after each test, every one even when a close throws. */
  @RegisterExtension
  final RunningServers running = new RunningServers();
  /** The nodes by index (null while one is stopped); each running one is also {@link #running}'s. */
  private final KvraftServer[] servers = new KvraftServer[3];
  private List<ServerConfig> configs;

  /** Who was what when the leader was found: the leader (at {@code term}) and the other two nodes. */
  private record Roles(int leader, long term, int follower, int other) {}

  private void stop(int node) {
    running.remove(servers[node]);
    servers[node].close();
    servers[node] = null;
  }

  /** Waits until a node says it leads; the term is from the same answer. */
  private Roles roles() throws Exception {
    return Await.until("a leader among the 3 nodes", DEADLINE, () -> {
      for (int i = 0; i < 3; i++) {
        var status = Nodes.status(servers[i]);
        if (status.getRole().equals("LEADER")) {
          return new Roles(i, status.getTerm(), (i + 1) % 3, (i + 2) % 3);
        }
      }
      return null;
    }, java.util.Objects::nonNull);
  }

  /** Whether {@code r}'s leader still leads in the same term, so it led all along since it was found. */
  private boolean ledThroughout(Roles r) throws Exception {
    var status = Nodes.status(servers[r.leader()]);
    return status.getRole().equals("LEADER") && status.getTerm() == r.term();
  }

  /** Polls a node's endpoint until the condition holds. */
  private Scrape awaitScrape(int node, String path, java.util.function.Predicate<Scrape> condition, String what)
      throws Exception {
    return Await.until("node n" + (node + 1) + " " + what + " (" + path + ")", DEADLINE,
        () -> Scrape.get(servers[node].metricsPort(), path), condition);
  }

  private Scrape metrics(int node) throws Exception {
    return Scrape.get(servers[node].metricsPort(), "/metrics");
  }

  /** How much the series of {@code name} with {@code labels} went up from {@code before} to {@code after}. */
  private static double moved(Scrape before, Scrape after, String name, String... labels) {
    return after.sum(name, labels) - before.sum(name, labels);
  }

  /**
   * The load phase, under the leader and follower of {@code r}: puts sent to a follower are counted there, with their
   * latency, and the leader only sees them forwarded; the leader reports each follower's progress. Counts are what
   * moved during this attempt. Returns the leader's scrape.
   */
  private Scrape loadThroughAFollower(Roles r, int attempt) throws Exception {
    int leader = r.leader();
    int follower = r.follower();
    var followerBefore = metrics(follower);
    var leaderBefore = metrics(leader);
    int puts = 40;
    try (var c = new RawClient(servers[follower].clientPort())) {
      for (int i = 0; i < puts; i++) {
        var reply = c.call(Requests.put(i + 1, "metrics/" + attempt + "/" + i, "v" + i));
        assertFalse(reply.hasError(), reply.toString());
      }
    }
    var onFollower = metrics(follower);
    assertEquals(puts, moved(followerBefore, onFollower, "kvraft_requests_total", "command=\"put\"",
        "result=\"ok\""), onFollower.body());
    assertEquals(puts, moved(followerBefore, onFollower, "kvraft_request_duration_seconds_count", "command=\"put\""));
    assertTrue(moved(followerBefore, onFollower, "kvraft_client_received_bytes_total") > 0);
    assertEquals(0, onFollower.sum("kvraft_raft_role"));
    var onLeader = metrics(leader);
    assertEquals(0, moved(leaderBefore, onLeader, "kvraft_requests_total", "command=\"put\""), onLeader.body());
    // At least once each: a forward the new leader answered UNAVAILABLE (not ready yet) is sent again.
    assertTrue(moved(leaderBefore, onLeader, "kvraft_forwarded_requests_total", "command=\"put\"") >= puts,
        onLeader.body());
    assertEquals(2, onLeader.sum("kvraft_raft_role"));
    assertTrue(moved(leaderBefore, onLeader, "kvraft_proposal_ops_count") >= 1, "proposals are counted on the leader");

    // The leader reports each follower's match index and lag, ours and Ratis's (bridged with member and peer).
    for (int f : new int[] {follower, r.other()}) {
      var peer = "peer=\"n" + (f + 1) + "\"";
      assertTrue(onLeader.samples().keySet().stream().anyMatch(s -> s.startsWith("kvraft_raft_follower_lag_entries{")
          && s.contains(peer)), onLeader.body());
      awaitScrape(leader, "/metrics", s -> s.sum("kvraft_raft_follower_match_index", peer)
          >= s.sum("kvraft_raft_commit_index") && s.sum("kvraft_raft_commit_index") > 0,
          "follower n" + (f + 1) + " catches up with the commit index");
      assertTrue(onLeader.samples().keySet().stream().anyMatch(s -> s.startsWith("ratis_")
          && s.contains(peer) && s.contains("member=\"n" + (leader + 1) + "@")), onLeader.body());
    }
    return onLeader;
  }

  @Test
  void seriesMoveWithLoadLeaderChangesAndQuorumLoss(@TempDir Path dir) throws Exception {
    configs = TestNodes.cluster(dir, 3, Map.of());
    for (int i = 0; i < 3; i++) {
      servers[i] = running.start(configs.get(i));
    }

    // The load phase assumes the leader it found leads until it is done. When it fails (an assertion, or a call's
    // socket) and that leader no longer leads in the same term, the leader changed under it, and it proves nothing
    // either way: it runs again under the leader found then. A failure under a leader that led throughout fails the
    // test.
    Roles loaded = null;
    Scrape onLeader = null;
    for (int attempt = 1; loaded == null; attempt++) {
      var r = roles();
      try {
        onLeader = loadThroughAFollower(r, attempt);
        loaded = r;
      } catch (AssertionError | java.io.IOException e) {
        if (ledThroughout(r)) {
          throw e;
        }
        if (attempt == LOAD_ATTEMPTS) {
          throw new AssertionError("the leader changed during each of " + LOAD_ATTEMPTS + " attempts at the load"
              + " phase; the last one failed with: " + e.getMessage(), e);
        }
        System.err.println("MetricsClusterTest: n" + (r.leader() + 1) + " stopped leading term " + r.term()
            + " during load attempt " + attempt + " (" + e.getMessage() + "); trying again");
      }
    }
    assertTrue(onLeader.names().contains("jvm_memory_used_bytes"), "JVM metrics are exported");
    assertTrue(onLeader.names().stream().anyMatch(n -> n.startsWith("ratis_log_worker_")), onLeader.body());

    // Every series the shipped Grafana dashboard queries exists on a node of this cluster.
    var exported = new java.util.TreeSet<String>(onLeader.names());
    exported.addAll(metrics(loaded.follower()).names());
    var dashboard = Dashboard.load();
    assertFalse(dashboard.seriesNames().isEmpty(), "the dashboard queries something");
    for (var name : dashboard.seriesNames()) {
      assertTrue(exported.contains(name), "the dashboard queries " + name + ", which no node exports");
    }

    // Killing the leader: a survivor counts the leader change, and is healthy again under the new leader. The
    // leader is found again, since it may have changed after the load phase; each node's count is read first, so a
    // change in between counts too.
    var changesBefore = new double[3];
    for (int i = 0; i < 3; i++) {
      changesBefore[i] = metrics(i).sum("kvraft_raft_leader_changes_total");
    }
    var r = roles();
    int follower = r.follower();
    int other = r.other();
    stop(r.leader());
    awaitScrape(follower, "/metrics", s -> s.sum("kvraft_raft_leader_changes_total") > changesBefore[follower],
        "counts a leader change after the leader was killed");
    awaitScrape(follower, "/health", s -> s.status() == 200, "is healthy under the new leader");
    assertEquals(200, Scrape.get(servers[follower].metricsPort(), "/ready").status());

    // Cut off from the quorum (the third node stops too): unhealthy, with the reason; healthy again once a peer
    // is back.
    stop(other);
    var down = awaitScrape(follower, "/health", s -> s.status() == 503, "turns unhealthy without a quorum");
    assertTrue(down.body().contains("leader"), down.body());
    assertEquals(200, Scrape.get(servers[follower].metricsPort(), "/ready").status(),
        "still serving clients (they get UNAVAILABLE), so ready");
    servers[other] = running.start(configs.get(other));
    awaitScrape(follower, "/health", s -> s.status() == 200, "is healthy again once a quorum is back");
  }
}
