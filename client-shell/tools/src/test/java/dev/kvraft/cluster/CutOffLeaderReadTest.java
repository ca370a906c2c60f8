package dev.kvraft.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvraft.client.KvClient;
import dev.kvraft.client.KvException;
import dev.kvraft.robust.Cluster;
import dev.kvraft.server.testing.Await;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A leader cut off from the majority never answers a linearizable read from its old state once the others have
 * elected a new leader and committed a write. Ratis 3.3.0's read index answers at once, with no round of heartbeats,
 * when nothing has committed since its last confirmed round, so the cut-off leader n3 used to answer "old" while n1
 * and n2 had "new" (ClusterProcessTest's paused old leader saw it once in CI, when the read won the race with n3's
 * stepping down). Here the race is taken out: n3 steps down only after 30 s without a majority's answers (its own
 * maximum election timeout; n1 and n2 keep the test cluster's 500..1000 ms, and n3's heartbeats still come every
 * 250 ms), so the read comes while n3 still believes it leads. It must fail (n3 cannot confirm that it leads), not
 * answer. n3's links are proxies that can be cut ({@link N3BehindLinks}), as in {@link CutOffWatchTest}.
 */
@Timeout(180)
@Tag("slow") // a cluster of processes
class CutOffLeaderReadTest {
  private static final Duration WAIT = Duration.ofSeconds(60);

  @Test
  void aLeaderCutOffNeverAnswersALinearizableReadFromItsOldState(@TempDir Path dir) throws Exception {
    try (var cluster = Cluster.onLoopback(dir, 3)) {
      var n1 = cluster.node("n1");
      var n2 = cluster.node("n2");
      var n3 = cluster.node("n3");
      try (var links = new N3BehindLinks(cluster)) {
        links.startWithN3Leading(WAIT, "--raft.election.timeout.max.ms=30000");

        try (var onN3 = KvClient.builder().addresses(n3.clientAddress()).discoverMembers(false)
                 .writesToLeader(false).timeout(Duration.ofSeconds(5)).build();
             var writer = KvClient.builder().addresses(n1.clientAddress(), n2.clientAddress())
                 .discoverMembers(false).timeout(WAIT).build()) {
          onN3.put("k", "old");
          // A read through n3 before the cut: Ratis's leader confirms a round of heartbeats at this commit index.
          assertEquals(KvClient.utf8("old"), onN3.get("k").orElseThrow().getValue());

          links.cut();
          Await.until("n1 or n2 to lead without n3", WAIT, () -> List.of("n1", "n2").stream().anyMatch(
              id -> cluster.status(id).map(s -> s.getRole().equals("LEADER")).orElse(false)));
          writer.put("k", "new");
          assertTrue(cluster.status("n3").map(s -> s.getRole().equals("LEADER")).orElse(false),
              "n3, cut off with a 30 s maximum election timeout, still believes it leads");

          String answer;
          try {
            answer = onN3.get("k").map(kv -> kv.getValue().toStringUtf8()).orElse("(none)");
          } catch (KvException expected) {
            answer = null; // n3 could not confirm that it leads: right
          }
          if (answer != null) {
            assertEquals("new", answer, "a linearizable read through n3, cut off after n1 and n2 committed 'new',"
                + " answered from n3's old state");
          }
        }
      }
    }
  }
}
