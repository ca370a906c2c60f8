package dev.kvraft.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvraft.client.KvClient;
import dev.kvraft.robust.Cluster;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The index-0 repair (issue #18; TESTING.md, "Known issues"): a brand-new cluster's first leader, cut off before its
 * first entry reached anyone, must catch up with the leader elected without it. On Ratis 3.3.0 with the log
 * starting at index 0 it never did: its own entry 0 counted as committed and it refused the new leader's.
 *
 * <p>Made deterministic with {@link SlowLink}s: every link to and from n1 delivers 250 ms late, and n1 has the
 * shortest election timeout, so it wins the first election; the moment it says it leads, its first entry is
 * still on the slow links, and the test cuts them. n2 and n3 then elect a leader of their own and take a write.
 * Once the links heal, n1 must apply that write.
 *
 * <p>When the links heal matters. While n1 is cut off, the new leader's appender has one call to n1 outstanding at
 * a time, each failing after Ratis's request timeout (3 s). Healing closes the dead connection, the call fails at
 * once and is retried 25 ms later. If by then more than half the leader's minimum election timeout (5 s / 2) has
 * passed since that call was sent, the retry is an empty heartbeat which, with entries pending, names no previous
 * entry ({@code LogAppenderBase.newAppendEntriesRequest}); without the seed n1 then commits its own entry 0. Healed
 * sooner, the retry carries entries from index 0 and n1 truncates its entry 0 as it should. So the test heals
 * {@link #HEAL_AFTER} after the leader's latest call to n1 left it: in that window every time, not half the time.
 */
@Timeout(300)
@Tag("slow") // process clusters
class FirstLeaderCutOffTest {
  private static final int ROUNDS = 2;
  private static final Duration DELAY = Duration.ofMillis(250);
  private static final Duration WAIT = Duration.ofSeconds(60);
  /** How long n1 has to apply the write once healed (it takes well under a second when it works). */
  private static final Duration CATCH_UP = Duration.ofSeconds(20);
  /**
   * Heal this long after the leader's latest call to n1 was sent: past half its minimum election timeout (2.5 s),
   * before Ratis's request timeout ends the call (3 s).
   */
  private static final Duration HEAL_AFTER = Duration.ofMillis(2750);

  @Test
  void aFirstLeaderCutOffBeforeItsFirstEntryArrivedCatchesUp(@TempDir Path dir) throws Exception {
    for (int round = 1; round <= ROUNDS; round++) {
      try (var cluster = Cluster.onLoopback(dir.resolve("round" + round), 3)) {
        oneRound(cluster, round);
      }
    }
  }

  private static void oneRound(Cluster cluster, int round) throws Exception {
    var nodes = cluster.nodes();
    var links = new ArrayList<SlowLink>();
    try (var toN2 = new SlowLink(nodes.get(1).peerPort(), DELAY);
         var toN3 = new SlowLink(nodes.get(2).peerPort(), DELAY);
         var n2ToN1 = new SlowLink(nodes.get(0).peerPort(), DELAY);
         var n3ToN1 = new SlowLink(nodes.get(0).peerPort(), DELAY)) {
      links.addAll(List.of(toN2, toN3, n2ToN1, n3ToN1));
      // Every link to and from n1 is slow. n1's election timeout is the shortest, so it leads first.
      var n1 = nodes.get(0);
      cluster.start("n1", "--cluster=" + String.join(",", member(n1, n1.peerPort()),
              member(nodes.get(1), toN2.port()), member(nodes.get(2), toN3.port())),
          "--raft.election.timeout.min.ms=1500", "--raft.election.timeout.max.ms=1600",
          // The first election too: by default a node's first one comes after a fifth of its timeout (300 ms here),
          // and a candidate waits only that long for its votes, which these slow links (2 x 250 ms) outlast: n1
          // would stand again and again in ever higher terms (server/DESIGN.md, "Configuration of Ratis").
          "--raft.first.election.timeout.min.ms=1500", "--raft.first.election.timeout.max.ms=1600");
      for (int i = 1; i <= 2; i++) {
        var n = nodes.get(i);
        var viaLink = (i == 1 ? n2ToN1 : n3ToN1).port();
        var view = new ArrayList<String>();
        for (var m : nodes) {
          view.add(member(m, m == n1 ? viaLink : m.peerPort()));
        }
        cluster.start(n.id(), "--cluster=" + String.join(",", view), "--raft.election.timeout.min.ms=5000",
            "--raft.election.timeout.max.ms=6000", "--raft.first.election.timeout.min.ms=5000",
            "--raft.first.election.timeout.max.ms=6000");
      }
      String first;
      try (var c1 = pinned(cluster, "n1")) {
        cluster.awaitServing("n1", WAIT);
        first = firstLeader(cluster, c1);
        links.forEach(SlowLink::cut);
      }
      assertEquals("n1", first, "round " + round + ": n1, with the shortest election timeout, leads first");
      // n2 and n3 elect a leader without n1 (their election timeouts are 5-6 s), which then takes a write.
      dev.kvraft.server.testing.Await.until("n2 or n3 to lead", WAIT, () -> List.of("n2", "n3").stream()
          .anyMatch(id -> cluster.status(id).map(st -> st.getRole().equals("LEADER")).orElse(false)));
      long revision;
      var others = List.of(cluster.address("n2"), cluster.address("n3"));
      try (var c = KvClient.builder().addresses(String.join(",", others)).timeout(WAIT).build()) {
        revision = c.put("after/cut", "round " + round);
      }
      // Heal HEAL_AFTER after the leader's appender sent its latest call to n1 (see the class comment).
      var leader = List.of("n2", "n3").stream()
          .filter(id -> cluster.status(id).map(st -> st.getRole().equals("LEADER")).orElse(false))
          .findFirst().orElseThrow(() -> new AssertionError("round " + round + ": no leader after the write"));
      var leaderToN1 = leader.equals("n2") ? n2ToN1 : n3ToN1;
      long reads = leaderToN1.requestReads();
      dev.kvraft.server.testing.Await.until(leader + " to send n1 a request", WAIT,
          () -> leaderToN1.requestReads() > reads);
      Thread.sleep(Math.max(0, HEAL_AFTER.toMillis()
          - (System.nanoTime() - leaderToN1.lastRequestNanos()) / 1_000_000));
      links.forEach(SlowLink::heal);
      long seen = -1;
      long deadline = System.nanoTime() + CATCH_UP.toNanos();
      try (var c1 = pinned(cluster, "n1")) {
        while (System.nanoTime() < deadline && seen < revision) {
          try {
            seen = c1.status().getRevision();
          } catch (RuntimeException e) {
            // not answering yet
          }
          Thread.sleep(50);
        }
      }
      assertTrue(seen >= revision, "round " + round + ": n1, the first leader, cut off before its first entry"
          + " arrived, is at revision " + seen + " " + CATCH_UP.toSeconds() + " s after n2 and n3 wrote revision "
          + revision + ". Its log:\n" + tail(cluster.log("n1")));
    }
  }

  private static String member(Cluster.Node n, int peerPort) {
    return n.id() + "=" + n.host() + ":" + n.clientPort() + ":" + peerPort;
  }

  private static KvClient pinned(Cluster cluster, String id) {
    return KvClient.builder().addresses(cluster.address(id)).discoverMembers(false)
        .connectTimeout(Duration.ofMillis(500)).timeout(Duration.ofSeconds(2)).build();
  }

  /** Asks n1 as fast as it answers until it says it leads; or names the node that led first otherwise. */
  private static String firstLeader(Cluster cluster, KvClient n1) throws InterruptedException {
    long deadline = System.nanoTime() + WAIT.toNanos();
    while (System.nanoTime() < deadline) {
      try {
        var s = n1.status();
        if (s.getRole().equals("LEADER")) {
          return "n1";
        }
        if (!s.getLeaderId().isEmpty()) {
          return s.getLeaderId();
        }
      } catch (RuntimeException ignored) {
        Thread.sleep(5);
      }
    }
    throw new AssertionError("no leader within " + WAIT + "; n1's log:\n" + tail(cluster.log("n1")));
  }

  private static String tail(String log) {
    var lines = log.lines().toList();
    return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
  }
}
