package dev.kvraft.robust;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvraft.client.KvClient;
import dev.kvraft.proto.Consistency;
import dev.kvraft.proto.Get;
import dev.kvraft.proto.Request;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The robustness suite's quick mode: a few fault scenarios against three real server processes, each history
 * checked for linearizability. The seed is printed; {@code -Dkvraft.robust.seed=S} replays it. The long mode is
 * {@code bin/kvraft-torture}.
 */
@Timeout(600)
@Tag("slow") // processes, clusters or external tools: not in bin/test --fast
class RobustnessTest {
  private static final long SEED = Long.getLong("kvraft.robust.seed", System.nanoTime());

  @TempDir
  Path dir;

  private static void runAll(Cluster cluster, List<Scenario> scenarios) throws Exception {
    System.out.println("robustness quick mode, seed " + SEED + " (replay: -Dkvraft.robust.seed=" + SEED + ")");
    int round = 0;
    for (var scenario : scenarios) {
      var r = Round.run(cluster, scenario, SEED + round, 8, 4, "q" + round + "/k", Duration.ofSeconds(1),
          Duration.ofMillis(1500), Duration.ofMillis(1500));
      System.out.println(r.summary());
      assertTrue(r.passed(), r.summary() + "\n" + r.verdict().report() + "\nlogs of n1:\n" + cluster.log("n1") + "\nlogs of n2:\n" + cluster.log("n2") + "\nlogs of n3:\n" + cluster.log("n3"));
      assertTrue(r.operations() >= 20, "the workload barely ran: " + r.summary());
      round++;
    }
  }

  @Test
  void killsPausesAndRestartsKeepTheHistoryLinearizable() throws Exception {
    try (var cluster = Cluster.onLoopback(dir.resolve("loop"), 3).startAll()) {
      runAll(cluster, List.of(Scenario.KILL_LEADER, Scenario.PAUSE_LEADER, Scenario.KILL_FOLLOWER,
          Scenario.RESTART_ALL, Scenario.MEMBERSHIP, Scenario.MEMBERSHIP_LEADER_KILL));
    }
  }

  @Test
  void partitionsKeepTheHistoryLinearizable() throws Exception {
    Cluster cluster;
    try {
      cluster = Cluster.inNamespaces(dir.resolve("ns"), 3);
    } catch (IOException e) {
      Assumptions.abort("partition scenarios SKIPPED: network namespaces cannot be made here (" + e.getMessage()
          + "); run as root with iproute2");
      return;
    }
    try (var c = cluster) {
      c.startAll();
      runAll(c, List.of(Scenario.PARTITION_LEADER, Scenario.PARTITION_FOLLOWER, Scenario.PARTIAL_PARTITION,
          Scenario.FLAPPING_PARTITION, Scenario.MEMBERSHIP_PARTITION));
    }
  }

  /** Issue #17: with auth on, every client of the workload authenticated, a leader kill keeps the history. */
  @Test
  void withAuthOnAKilledLeaderKeepsTheHistoryLinearizable() throws Exception {
    try (var cluster = Cluster.onLoopback(dir.resolve("auth"), 3).withAuth().startAll()) {
      runAll(cluster, List.of(Scenario.KILL_LEADER));
      try (var anonymous = dev.kvraft.client.KvClient.builder().addresses(cluster.addresses().get(0))
          .discoverMembers(false).build()) {
        org.junit.jupiter.api.Assertions.assertThrows(dev.kvraft.client.UnauthenticatedException.class,
            () -> anonymous.get("q0/k0"), "auth was really on");
      }
      // Every node logged the authentications and the user change, never the password or its hash.
      var password = cluster.access().password();
      assertTrue(cluster.ids().stream().anyMatch(id -> cluster.log(id).contains("from loopback")),
          "the nodes logged the password's arrival (so their logs were read)");
      for (var id : cluster.ids()) {
        var log = cluster.log(id);
        assertTrue(!log.contains(password) && !log.contains("pbkdf2-sha256$"), id + "'s log holds a secret");
      }
    }
  }

  /**
   * The same with TLS on every link: the clients', the Raft transport's and the followers' forwarding. With a
   * follower replaced while the leader is killed: there, a node added after its link to the leader opened had every
   * client write refused as not a member's (kvraft-torture --tls found it).
   */
  @Test
  void withTlsOnEveryLinkKillsRestartsAndAReplacedFollowerKeepTheHistoryLinearizable() throws Exception {
    Assumptions.assumeTrue(dev.kvraft.server.testing.TestCerts.opensslPresent(), "openssl is missing");
    try (var cluster = Cluster.onLoopback(dir.resolve("tls"), 3).withTls().startAll()) {
      runAll(cluster, List.of(Scenario.KILL_LEADER, Scenario.KILL_FOLLOWER, Scenario.RESTART_ALL,
          Scenario.MEMBERSHIP_LEADER_KILL));
      assertTrue(cluster.log("n1").contains("TLS on the Raft transport"), "the nodes really ran TLS");
    }
  }

  /**
   * The checker is not a rubber stamp: a STALE read served by an old leader that was paused while a new leader
   * accepted a write returns the old value, and the checker flags that history. (STALE reads promise no
   * linearizability; this is exactly what they may do.)
   */
  @Test
  void theCheckerCatchesAStaleReadFromAResumedOldLeader() throws Exception {
    try (var cluster = Cluster.onLoopback(dir.resolve("stale"), 3).startAll()) {
      boolean caught = false;
      for (int attempt = 0; attempt < 5 && !caught; attempt++) {
        var key = "stale/" + attempt;
        var old = cluster.awaitLeader(Duration.ofSeconds(30));
        var history = new ArrayList<Operation>();
        try (var atOld = KvClient.builder().addresses(cluster.node(old).clientAddress()).discoverMembers(false)
            .build()) {
          long t = System.nanoTime();
          atOld.put(key, "v1");
          history.add(Operation.put(0, key, "v1", t, System.nanoTime()));
          cluster.pause(old);
          try {
            var others = cluster.nodes().stream().filter(n -> !n.id().equals(old)).map(Cluster.Node::clientAddress)
                .toList();
            var otherIds = cluster.nodes().stream().map(Cluster.Node::id).filter(id -> !id.equals(old)).toList();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (otherIds.stream().noneMatch(id -> cluster.status(id).map(st -> st.getRole().equals("LEADER"))
                .orElse(false))) {
              assertTrue(System.nanoTime() < deadline, "the other two elected no leader");
              Thread.sleep(50);
            }
            try (var atNew = KvClient.builder().addresses(String.join(",", others)).discoverMembers(false)
                .timeout(Duration.ofSeconds(20)).build()) {
              t = System.nanoTime();
              atNew.put(key, "v2");
              history.add(Operation.put(1, key, "v2", t, System.nanoTime()));
            }
            // Sent while the old leader is frozen, after v2 was acknowledged; it answers once resumed.
            long invoke = System.nanoTime();
            var read = atOld.callAsync(Request.newBuilder().setGet(Get.newBuilder().setKey(KvClient.utf8(key))
                .setConsistency(Consistency.STALE)));
            cluster.resume(old);
            var response = read.get(20, TimeUnit.SECONDS);
            var value = response.getGet().hasKv() ? response.getGet().getKv().getValue().toStringUtf8() : null;
            history.add(Operation.get(2, key, value, invoke, System.nanoTime()));
            if ("v1".equals(value)) {
              var verdict = new Checker().check(history);
              System.out.println(verdict.report());
              assertFalse(verdict.linearizable(), "a stale read must be flagged:\n" + verdict.report());
              caught = true;
            }
          } finally {
            cluster.resume(old);
          }
        }
      }
      assertTrue(caught, "in 5 attempts the resumed old leader never served the stale value");
    }
  }
}
