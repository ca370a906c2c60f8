package dev.kvraft.server.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvraft.server.KvraftServer;
import dev.kvraft.server.testing.Nodes;
import dev.kvraft.server.testing.RawClient;
import dev.kvraft.server.testing.Requests;
import dev.kvraft.server.testing.RunningServers;
import dev.kvraft.server.testing.TestNodes;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Linearizable reads: on three nodes the leader confirms its leadership for each turn of reads by committing an empty
 * entry (Ratis 3.3.0's read-index round would answer from its last confirmation with no check while nothing commits,
 * and can wait half an election timeout: raft.ReadBarriers), counted in {@code kvraft_read_barrier_entries_total},
 * and every read still returns the last write; on a node that is its group's only voter, no other node can lead, so
 * no entry is written.
 */
@Timeout(120)
class ReadBarrierEntryTest {
  private static final Duration WAIT = Duration.ofSeconds(30);
  private static final String ENTRIES = "kvraft_read_barrier_entries_total";

  @RegisterExtension
  final RunningServers servers = new RunningServers();

  @Test
  void aLeaderOfThreeConfirmsEachTurnOfReadsWithAnEntry(@TempDir Path dir)
      throws Exception {
    for (var c : TestNodes.cluster(dir, 3, java.util.Map.of())) {
      servers.start(c);
    }
    var leader = Nodes.awaitLeader(WAIT, servers.list());
    double before = entries(leader);
    readsAfterOneWrite(leader);
    // One each: a read one after another has a turn of its own (a retried one may add one).
    assertTrue(entries(leader) - before >= 10, "ten reads one after another commit ten entries (" + before + " -> "
        + entries(leader) + ")");
  }

  @Test
  void theOnlyVoterNeverWritesOne(@TempDir Path dir) throws Exception {
    var node = servers.start(TestNodes.single(dir));
    Nodes.awaitLeader(WAIT, servers.list());
    readsAfterOneWrite(node);
    assertEquals(0, entries(node), "a one-voter group's read index needs no check");
  }

  /** One put, then ten linearizable gets of it one after another, each returning it. */
  private static void readsAfterOneWrite(KvraftServer node) throws Exception {
    try (var client = RawClient.to(node)) {
      var put = client.call(Requests.put(1, "k", "v"));
      assertFalse(put.hasError(), put.toString());
      for (int i = 0; i < 10; i++) {
        var get = client.call(Requests.get(10 + i, "k"));
        assertFalse(get.hasError(), get.toString());
        assertEquals("v", get.getGet().getKv().getValue().toStringUtf8());
      }
    }
  }

  private static double entries(KvraftServer node) throws Exception {
    return Scrape.get(node.metricsPort(), "/metrics").sum(ENTRIES);
  }
}
