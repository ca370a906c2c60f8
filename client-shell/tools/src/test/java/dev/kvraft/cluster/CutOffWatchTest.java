package dev.kvraft.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvraft.client.KvClient;
import dev.kvraft.client.KvException;
import dev.kvraft.client.WatchListener;
import dev.kvraft.proto.Event;
import dev.kvraft.robust.Cluster;
import dev.kvraft.server.testing.Await;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A watch on a node cut off from the majority moves to another node ({@code require_leader}, like etcd's
 * WithRequireLeader). The node watched on, n3, reaches its peers only through {@link SlowLink}s (no delay: plain
 * proxies), and they reach it only through one: cutting the three cuts its Raft off both ways while its client port
 * stays up, so it still answers the client's keep-alive ({@code members}) and the watch used to stay there, silent,
 * for as long as the partition lasted. n3 leads when it is cut off (leadership is handed to it first): the harder
 * case, since a leader believes it leads until Ratis steps it down (LeaderStateImpl.checkLeadership, after an
 * election timeout without a majority's answers). The cluster's election timeouts are 500..1000 ms, so n3 ends its
 * require_leader watches about 3 s after it lost its leader.
 */
@Timeout(180)
@Tag("slow") // a cluster of processes
class CutOffWatchTest {
  private static final Duration WAIT = Duration.ofSeconds(60);
  /** Well past what it takes: n3 steps down within about 2 s, and ends the watch 3 s later. */
  private static final Duration MOVE = Duration.ofSeconds(30);

  /** Records every event delivered, and an error if the watch ends. */
  private static final class Recorder implements WatchListener {
    final List<Long> revisions = new CopyOnWriteArrayList<>();
    final AtomicReference<KvException> error = new AtomicReference<>();

    @Override
    public void onEvents(List<Event> batch, long revision) {
      batch.forEach(e -> revisions.add(e.getKv().getModRevision()));
    }

    @Override
    public void onError(KvException e) {
      error.set(e);
    }
  }

  @Test
  void aWatchOnANodeCutOffFromTheMajorityResumesOnAnotherWithEveryLaterEventOnce(@TempDir Path dir)
      throws Exception {
    try (var cluster = Cluster.onLoopback(dir, 3)) {
      var n1 = cluster.node("n1");
      var n2 = cluster.node("n2");
      var n3 = cluster.node("n3");
      try (var links = new N3BehindLinks(cluster)) {
        links.startWithN3Leading(WAIT);

        // The watcher starts on n3; the writer writes through n1 and n2 only.
        try (var watching = KvClient.builder().addresses(n3.clientAddress(), n1.clientAddress(), n2.clientAddress())
                 .discoverMembers(false).timeout(Duration.ofSeconds(5)).build();
             var writer = KvClient.builder().addresses(n1.clientAddress(), n2.clientAddress())
                 .discoverMembers(false).timeout(WAIT).build()) {
          var expected = new ArrayList<Long>();
          for (int i = 0; i < 5; i++) {
            expected.add(writer.put("w/" + i, "before " + i));
          }
          var r = new Recorder();
          try (var watcher = watching.watch(KvClient.utf8("w/"), KvClient.prefixEnd(KvClient.utf8("w/")),
              expected.getFirst(), r)) {
            Await.until("the events before the cut", WAIT, () -> r.revisions.size() >= expected.size());

            links.cut();
            Await.until("n1 or n2 to lead without n3", WAIT, () -> List.of("n1", "n2").stream().anyMatch(
                id -> cluster.status(id).map(s -> s.getRole().equals("LEADER")).orElse(false)));
            for (int i = 0; i < 20; i++) {
              expected.add(writer.put("w/" + (i % 4), "after " + i));
            }
            // n3 still answers clients, and Ratis steps it down (within about two election timeouts of the cut):
            // it then knows no leader.
            Await.until("n3, cut off, to answer that it knows no leader", WAIT, () -> cluster.status("n3")
                .map(st -> !st.getRole().equals("LEADER") && st.getLeaderId().isEmpty()).orElse(false));

            long deadline = System.nanoTime() + MOVE.toNanos();
            while (System.nanoTime() < deadline && r.revisions.size() < expected.size()) {
              Thread.sleep(50);
            }
            assertEquals(expected, r.revisions, "within " + MOVE.toSeconds() + " s the watch resumed on n1 or n2"
                + " with every event after the cut, once and in order; n3's log:\n" + tail(cluster.log("n3")));
            for (int i = 0; i < 5; i++) {
              expected.add(writer.put("w/x" + i, "later " + i));
            }
            Await.until("the later events", WAIT, () -> r.revisions.size() >= expected.size());
            assertEquals(expected, r.revisions, "every write once, in order, across n3's cut");
            assertNull(r.error.get(), "the watch never ended");
            assertTrue(watcher.isOpen());
            assertTrue(cluster.log("n3").contains("has known no leader for"), "n3 ended the watch itself: "
                + tail(cluster.log("n3")));
          }
        }
      }
    }
  }

  private static String tail(String log) {
    var lines = log.lines().toList();
    return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
  }
}
