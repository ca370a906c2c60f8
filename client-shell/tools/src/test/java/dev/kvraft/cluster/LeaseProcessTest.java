package dev.kvraft.cluster;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvraft.client.KvClient;
import dev.kvraft.robust.Cluster;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Leases and locks against real processes killed with SIGKILL (election timeouts of 0.5-1 s). */
@Timeout(180)
@Tag("slow") // processes
class LeaseProcessTest {
  @TempDir
  Path dir;
  Cluster cluster;
  final List<Process> holders = new ArrayList<>();

  @BeforeEach
  void start() throws Exception {
    cluster = Cluster.onLoopback(dir, 3).startAll();
    cluster.awaitLeader(Duration.ofSeconds(60));
  }

  @AfterEach
  void stop() {
    holders.forEach(Process::destroyForcibly);
    cluster.close();
  }

  private KvClient any() {
    return KvClient.builder().addresses(String.join(",", cluster.addresses())).timeout(Duration.ofSeconds(15))
        .build();
  }

  @Test
  void aSigkilledLeaderMakesNoLeaseExpireEarlyAndAtMostAnElectionLate() throws Exception {
    try (var c = any()) {
      var lease = c.leaseGrant(3).getId();
      c.put(KvClient.utf8("pl/k"), KvClient.utf8("v"), lease);
      try (var alive = c.keepAlive(lease)) {
        Thread.sleep(2500); // renewed a few times, checkpointed by the leader
      }
      long lastRenewal = System.nanoTime(); // keep-alives went every second: the lease ends 2-3 s from here
      cluster.kill(cluster.awaitLeader(Duration.ofSeconds(10)));
      long earliest = lastRenewal + TimeUnit.SECONDS.toNanos(2);
      while (System.nanoTime() < earliest) {
        assertTrue(c.get("pl/k").isPresent(), "expired early: "
            + (System.nanoTime() - lastRenewal) / 1_000_000 + " ms after the last renewal");
        Thread.sleep(100); // sampling the key over time is what this checks
      }
      while (c.get("pl/k").isPresent()) {
        assertTrue(System.nanoTime() - lastRenewal < TimeUnit.MILLISECONDS.toNanos(3000 + 1000 + 500 + 1500),
            "still there past TTL + election timeout + checkpoint interval (+ 1.5 s for the election itself)");
        Thread.sleep(100);
      }
    }
  }

  @Test
  void aLockHeldByASigkilledProcessIsFreedAfterItsTtl() throws Exception {
    var java = ProcessHandle.current().info().command().orElse("java");
    var holder = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
        LockHolder.class.getName(), String.join(",", cluster.addresses()), "nightly", "2")
        .redirectError(ProcessBuilder.Redirect.DISCARD).start();
    holders.add(holder);
    var out = new BufferedReader(new InputStreamReader(holder.getInputStream()));
    var line = out.readLine();
    while (line != null && !line.startsWith("locked ")) {
      line = out.readLine(); // anything the JVM says first
    }
    assertTrue(line != null && line.startsWith("locked "), "the holder took the lock: " + line);
    long holderRevision = Long.parseLong(line.substring("locked ".length()).strip());
    try (var c = any()) {
      holder.destroyForcibly().waitFor(10, TimeUnit.SECONDS); // SIGKILL: no unlock, no revoke
      long killed = System.nanoTime();
      try (var lock = c.lock("nightly", 5)) {
        double waited = (System.nanoTime() - killed) / 1e9;
        assertTrue(waited < 2 + 3, "freed within the 2 s TTL (+ renewal period and slack), waited " + waited + " s");
        assertTrue(lock.revision() > holderRevision, "the fencing revision grows");
      }
    }
  }
}
