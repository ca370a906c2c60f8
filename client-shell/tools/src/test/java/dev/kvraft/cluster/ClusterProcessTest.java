package dev.kvraft.cluster;

import static dev.kvraft.client.KvClient.utf8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.kvraft.client.KvClient;
import dev.kvraft.client.KvException;
import dev.kvraft.client.KvTimeoutException;
import dev.kvraft.client.UnavailableException;
import dev.kvraft.robust.Cluster;
import dev.kvraft.server.testing.Await;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Three real server processes on loopback, killed with SIGKILL, paused with SIGSTOP, restarted. */
@Timeout(180)
@Tag("slow") // processes, clusters or external tools: not in bin/test --fast
class ClusterProcessTest {
  @TempDir
  Path dir;
  Cluster cluster;

  @BeforeEach
  void start() throws Exception {
    cluster = Cluster.onLoopback(dir, 3).startAll();
    cluster.awaitLeader(Duration.ofSeconds(60));
  }

  @AfterEach
  void stop() {
    cluster.close();
  }

  /** A client pinned to one node: no discovery, so it cannot fail over. */
  private KvClient pinned(String id) {
    return KvClient.builder().addresses(cluster.address(id)).discoverMembers(false)
        .timeout(Duration.ofSeconds(10)).build();
  }

  private KvClient any() {
    return KvClient.builder().addresses(String.join(",", cluster.addresses())).timeout(Duration.ofSeconds(15))
        .build();
  }

  @Test
  void writesThroughEachNodeAreVisibleOnEveryNode() throws Exception {
    for (var id : cluster.ids()) {
      try (var c = pinned(id)) {
        c.put("via/" + id, "written through " + id);
        assertEquals(utf8("written through " + id), c.get("via/" + id).orElseThrow().getValue(),
            "read-your-writes through " + id);
      }
    }
    for (var reader : cluster.ids()) {
      try (var c = pinned(reader)) {
        for (var writer : cluster.ids()) {
          assertEquals(utf8("written through " + writer), c.get("via/" + writer).orElseThrow().getValue(),
              "linearizable read of " + writer + "'s write through " + reader);
        }
      }
    }
    awaitConverged();
  }

  @Test
  void killingTheLeaderElectsANewOneAndWritesContinue() throws Exception {
    var leader = cluster.awaitLeader(Duration.ofSeconds(30));
    var survivor = cluster.ids().stream().filter(id -> !id.equals(leader)).findFirst().orElseThrow();
    try (var c = pinned(survivor)) {
      c.put("before", "1");
      long killed = System.nanoTime();
      cluster.kill(leader);
      long deadline = killed + TimeUnit.SECONDS.toNanos(30);
      while (true) {
        try {
          c.put("after", "2");
          break;
        } catch (KvException e) {
          if (System.nanoTime() > deadline) {
            throw e;
          }
        }
      }
      var recovery = Duration.ofNanos(System.nanoTime() - killed);
      System.out.printf("time to recovery after SIGKILL of leader %s: %d ms%n", leader, recovery.toMillis());
      var newLeader = cluster.awaitLeader(Duration.ofSeconds(30));
      assertTrue(!newLeader.equals(leader), "a new leader was elected");
      assertEquals(utf8("1"), c.get("before").orElseThrow().getValue());
      assertEquals(utf8("2"), c.get("after").orElseThrow().getValue());
    }
  }

  @Test
  void withoutAQuorumWritesFailUnavailableAndRecoverWhenANodeReturns() throws Exception {
    var leader = cluster.awaitLeader(Duration.ofSeconds(30));
    var others = cluster.ids().stream().filter(id -> !id.equals(leader)).toList();
    cluster.kill(others.get(0));
    cluster.kill(others.get(1));
    // The survivor steps down once an election timeout passes without a majority.
    Await.until("the leader without a quorum to step down", Duration.ofSeconds(15),
        () -> !cluster.status(leader).map(s -> s.getRole().equals("LEADER")).orElse(false));
    try (var c = KvClient.builder().addresses(cluster.address(leader)).discoverMembers(false)
        .timeout(Duration.ofSeconds(7)).build()) {
      long start = System.nanoTime();
      var e = assertThrows(UnavailableException.class, () -> c.put("noquorum", "x"));
      var took = Duration.ofNanos(System.nanoTime() - start);
      assertTrue(took.compareTo(Duration.ofSeconds(8)) < 0, "failed after " + took + ": " + e.getMessage());
      assertTrue(e.getMessage().contains("no leader"), e.getMessage());

      cluster.restart(others.get(0));
      long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (true) {
        try {
          c.put("quorum-back", "y");
          break;
        } catch (KvException again) {
          assertTrue(System.nanoTime() < until, "writes did not resume: " + again);
        }
      }
      assertEquals(utf8("y"), c.get("quorum-back").orElseThrow().getValue());
      assertTrue(c.get("noquorum").isEmpty(), "the write answered UNAVAILABLE was not applied");
    }
  }

  @Test
  void aPausedOldLeaderNeverServesAStaleLinearizableRead() throws Exception {
    var old = cluster.awaitLeader(Duration.ofSeconds(30));
    try (var c = pinned(old)) {
      c.put("k", "old");
    }
    cluster.pause(old);
    try {
      var others = cluster.ids().stream().filter(id -> !id.equals(old)).toList();
      // Write through the new leader once the other two elected one.
      Await.until("a new leader while the old one is paused", Duration.ofSeconds(30),
          () -> others.stream().anyMatch(id -> cluster.status(id).map(s -> s.getRole().equals("LEADER")
              && s.getTerm() > 0).orElse(false)));
      try (var c = KvClient.builder().addresses(cluster.address(others.get(0)), cluster.address(others.get(1)))
          .discoverMembers(false).timeout(Duration.ofSeconds(20)).build()) {
        c.put("k", "new");
      }
    } finally {
      cluster.resume(old);
    }
    try (var c = pinned(old)) {
      assertEquals(utf8("new"), c.get("k").orElseThrow().getValue(),
          "a linearizable read through the deposed leader must see the new leader's write");
    }
  }

  @Test
  void restartingAllThreeKeepsEveryAcknowledgedWriteAndTheyConverge() throws Exception {
    try (var c = any()) {
      for (int i = 0; i < 300; i++) {
        c.put("r/" + i, "v" + i);
      }
      c.delete("r/7");
    }
    for (var id : cluster.ids()) {
      cluster.kill(id);
    }
    for (var id : cluster.ids()) {
      cluster.start(id);
    }
    cluster.awaitLeader(Duration.ofSeconds(60));
    try (var c = any()) {
      for (int i = 0; i < 300; i++) {
        var kv = c.get("r/" + i);
        if (i == 7) {
          assertTrue(kv.isEmpty());
        } else {
          assertEquals(utf8("v" + i), kv.orElseThrow().getValue(), "r/" + i);
        }
      }
    }
    awaitConverged();
  }

  @Test
  void concurrentWritersLoseNothingAcknowledgedAcrossALeaderKill() throws Exception {
    var acked = ConcurrentHashMap.<String>newKeySet();
    var unknown = new AtomicInteger();
    var stop = new AtomicBoolean();
    var started = new CountDownLatch(8);
    var leader = cluster.awaitLeader(Duration.ofSeconds(30));
    try (var pool = Executors.newFixedThreadPool(8)) {
      var futures = new ArrayList<java.util.concurrent.Future<?>>();
      for (int t = 0; t < 8; t++) {
        int writer = t;
        futures.add(pool.submit(() -> {
          try (var c = any()) {
            started.countDown();
            for (int i = 0; i < 2000 && !stop.get(); i++) {
              var key = "w" + writer + "/" + i;
              try {
                c.put(key, key);
                acked.add(key);
              } catch (KvTimeoutException e) {
                unknown.incrementAndGet();
              } catch (UnavailableException e) {
                // not applied; go on
              }
            }
          }
          return null;
        }));
      }
      started.await();
      Await.until("300 acknowledged writes before the kill", Duration.ofSeconds(30), () -> acked.size() >= 300);
      cluster.kill(leader);
      int atKill = acked.size();
      Await.until("500 more acknowledged writes after the kill", Duration.ofSeconds(60),
          () -> acked.size() >= atKill + 500);
      stop.set(true);
      for (var f : futures) {
        f.get(60, TimeUnit.SECONDS);
      }
      System.out.printf("acknowledged %d writes (%d at the kill), %d with unknown outcome%n", acked.size(), atKill,
          unknown.get());
      assertTrue(acked.size() > atKill, "writes continued after the leader was killed");
    }
    cluster.restart(leader);
    try (var c = any()) {
      var missing = new ArrayList<String>();
      for (var key : acked) {
        if (c.get(key).isEmpty()) {
          missing.add(key);
        }
      }
      assertEquals(List.of(), missing, "acknowledged writes lost");
    }
    awaitConverged();
  }

  /** Every live node reaches the same revision and the same state digest. */
  private void awaitConverged() throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (true) {
      var states = new ArrayList<String>();
      for (var id : cluster.ids()) {
        if (cluster.isAlive(id)) {
          states.add(dev.kvraft.robust.Round.digest(cluster.address(id)));
        }
      }
      if (states.stream().distinct().count() == 1) {
        return;
      }
      if (System.nanoTime() > deadline) {
        fail("nodes did not converge: " + states);
      }
      Thread.sleep(100);
    }
  }
}
