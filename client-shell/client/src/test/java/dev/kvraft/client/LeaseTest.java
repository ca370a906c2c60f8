package dev.kvraft.client;

import static dev.kvraft.client.KvClient.utf8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvraft.proto.Event;
import dev.kvraft.proto.LeaseGrant;
import dev.kvraft.proto.Put;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Watch;
import dev.kvraft.server.KvraftServer;
import dev.kvraft.server.testing.Await;
import dev.kvraft.server.testing.Nodes;
import dev.kvraft.server.testing.TestNodes;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Leases (issue #21): keys that expire with their lease, keep-alives, revokes, leases across a leader's loss and a
 * restart, 10,000 leases expiring under writes, and locks built on them.
 */
@Timeout(180)
class LeaseTest {
  private static final Duration WAIT = Duration.ofSeconds(30);
  private final Started started = new Started();
  private final List<KvraftServer> servers = started.servers;

  @AfterEach
  void stop() throws Exception {
    started.close();
  }

  private KvClient client(String... addresses) {
    return started.client(addresses);
  }

  private KvClient single(Path dir) throws Exception {
    return client(Started.address(started.server(TestNodes.single(dir))));
  }

  @Test
  void keysGoWithTheirLeaseInOneRevisionUnlessKeptAlive(@TempDir Path dir) throws Exception {
    var c = single(dir);
    var deletes = new CopyOnWriteArrayList<Event>();
    started.closing(c.watch(Watch.newBuilder().setKey(utf8("l/")).setRangeEnd(utf8("l0")).setNoPut(true).build(),
        (events, rev) -> deletes.addAll(events)));
    var shortLease = c.leaseGrant(1);
    assertEquals(1, shortLease.getTtlSeconds(), "test nodes' election timeout allows 1 s");
    c.put(utf8("l/a"), utf8("1"), shortLease.getId());
    c.put(utf8("l/b"), utf8("2"), shortLease.getId());
    var kept = c.leaseGrant(1);
    c.put(utf8("l/kept"), utf8("3"), kept.getId());
    var ttl = c.leaseTimeToLive(shortLease.getId(), true);
    assertEquals(List.of(utf8("l/a"), utf8("l/b")), ttl.getKeysList());
    assertEquals(2, c.leaseList().size());
    try (var alive = c.keepAlive(kept.getId())) {
      long granted = System.nanoTime();
      Await.until("the short lease's keys to go", WAIT, () -> c.get("l/a").isEmpty() && c.get("l/b").isEmpty());
      double seconds = (System.nanoTime() - granted) / 1e9;
      assertTrue(seconds < 3, "gone within its TTL and a little: " + seconds + " s");
      Await.until("both deletes to be seen", WAIT, () -> deletes.size() >= 2);
      assertEquals(deletes.get(0).getKv().getModRevision(), deletes.get(1).getKv().getModRevision(),
          "one revision for all of a lease's keys: " + deletes);
      // Kept alive: still there well past three TTLs.
      long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(3);
      while (System.nanoTime() < until) {
        assertTrue(c.get("l/kept").isPresent(), "a kept-alive lease's key stays");
        Thread.sleep(200); // sampling the key over time is what this checks
      }
      assertTrue(alive.isAlive());
    }
    // kvraft.db says why the keys went: the expiry, with a delete row per key.
    var db = servers.get(0).config().dataDir().resolve("kvraft.db");
    var rows = Await.until("the expiry in kvraft.db", WAIT, () -> {
      var found = new ArrayList<String>();
      try (var conn = java.sql.DriverManager.getConnection("jdbc:sqlite:" + db); var st = conn.createStatement();
           var rs = st.executeQuery("SELECT l.summary, o.op, o.key FROM raft_log l JOIN raft_log_ops o"
               + " ON o.idx = l.idx WHERE l.summary LIKE 'lease " + shortLease.getId() + " expired%'"
               + " AND o.op = 'delete' ORDER BY o.seq")) {
        while (rs.next()) {
          found.add(rs.getString(1) + " | " + rs.getString(2) + " " + rs.getString(3));
        }
      }
      return found;
    }, found -> found.size() == 2);
    assertEquals(List.of("lease " + shortLease.getId() + " expired: its keys deleted | delete l/a",
        "lease " + shortLease.getId() + " expired: its keys deleted | delete l/b"), rows);
    assertThrows(LeaseNotFoundException.class, () -> c.leaseTimeToLive(shortLease.getId(), false));
    assertThrows(LeaseNotFoundException.class, () -> c.put(utf8("l/x"), utf8("1"), shortLease.getId()));
    assertTrue(c.get("l/x").isEmpty(), "a put naming a missing lease writes nothing");
    // Revoke: at once, with its keys.
    var revoked = c.leaseGrant(60);
    c.put(utf8("l/r1"), utf8("1"), revoked.getId());
    c.put(utf8("l/r2"), utf8("1"), revoked.getId());
    c.put(utf8("l/r2"), utf8("2")); // a put without the lease takes the key out of it
    assertEquals(1, c.leaseRevoke(revoked.getId()));
    assertTrue(c.get("l/r1").isEmpty());
    assertEquals("2", c.get("l/r2").orElseThrow().getValue().toStringUtf8());
  }

  @Test
  void noLeaseExpiresEarlyWhenTheLeaderDies(@TempDir Path dir) throws Exception {
    started.cluster(dir, 3, Map.of());
    var leader = Nodes.awaitLeader(WAIT, servers);
    var others = servers.stream().filter(s -> s != leader).map(s -> "127.0.0.1:" + s.clientPort())
        .toArray(String[]::new);
    var c = client(others);
    var lease = c.leaseGrant(4);
    c.put(utf8("ld/k"), utf8("v"), lease.getId());
    try (var alive = c.keepAlive(lease.getId())) {
      // Renewed for a while, so the leader's checkpoints carry it.
      Thread.sleep(1500); // let a few keep-alives and checkpoints happen
    }
    long lastRenewal = System.nanoTime(); // no renewal after this: the lease ends at most 4 s from here
    leader.close();
    long earliest = lastRenewal + TimeUnit.MILLISECONDS.toNanos(4000 - 1400); // keep-alives go every TTL/3
    while (System.nanoTime() < earliest) {
      assertTrue(c.get("ld/k").isPresent(), "expired early, "
          + (System.nanoTime() - lastRenewal) / 1_000_000 + " ms after the last renewal");
      Thread.sleep(100); // sampling the key over time is what this checks
    }
    Await.until("the lease to expire under the new leader", WAIT, () -> c.get("ld/k").isEmpty());
    double late = (System.nanoTime() - lastRenewal) / 1e9 - 4;
    assertTrue(late < 3, "expired " + late + " s after its TTL: at most an election timeout and a checkpoint late");
  }

  @Test
  void leasesSurviveARestartAndTenThousandExpireWithoutStallingWrites(@TempDir Path dir) throws Exception {
    var cfg = TestNodes.single(dir, Map.of("snapshot.threshold", "50"));
    var s = started.server(cfg);
    var c = client("127.0.0.1:" + s.clientPort());
    var lease = c.leaseGrant(120);
    c.put(utf8("rs/k"), utf8("v"), lease.getId());
    for (int i = 0; i < 60; i++) {
      c.put("rs/filler" + i, "x"); // past snapshot.threshold: the lease is in a snapshot
    }
    s.close();
    servers.remove(s);
    var again = started.server(cfg);
    var c2 = client("127.0.0.1:" + again.clientPort());
    var ttl = Await.until("the lease after the restart", WAIT, () -> {
      try {
        return c2.leaseTimeToLive(lease.getId(), true);
      } catch (UnavailableException e) {
        return null;
      }
    }, r -> r != null);
    assertEquals(List.of(utf8("rs/k")), ttl.getKeysList());
    assertTrue(ttl.getTtlSeconds() > 100, ttl.toString());
    assertEquals(1, c2.leaseRevoke(lease.getId()));

    // 10,000 leases of 1 s, each with a key, pipelined; writes go on while they expire.
    var grants = new ArrayList<java.util.concurrent.CompletableFuture<dev.kvraft.proto.Response>>();
    for (int i = 0; i < 10_000; i++) {
      grants.add(c2.callAsync(Request.newBuilder().setLeaseGrant(LeaseGrant.newBuilder().setTtlSeconds(1))));
    }
    var puts = new ArrayList<java.util.concurrent.CompletableFuture<dev.kvraft.proto.Response>>();
    for (int i = 0; i < grants.size(); i++) {
      long id = grants.get(i).get(30, TimeUnit.SECONDS).getLeaseGrant().getId();
      puts.add(c2.callAsync(Request.newBuilder().setPut(Put.newBuilder().setKey(utf8("many/" + i))
          .setValue(utf8("v")).setLease(id))));
    }
    for (var p : puts) {
      // On a loaded machine a lease can run out between its grant and its put: the put is then refused, not applied.
      var r = p.get(30, TimeUnit.SECONDS);
      assertTrue(!r.hasError() || r.getError().getCode() == dev.kvraft.proto.Error.Code.LEASE_NOT_FOUND, r.toString());
    }
    long start = System.nanoTime();
    long slowest = 0;
    int writes = 0;
    while (c2.scanPrefix(utf8("many/"), 1, dev.kvraft.proto.Consistency.LINEARIZABLE).getKvsCount() > 0) {
      long t0 = System.nanoTime();
      c2.put("other/" + writes, "w");
      slowest = Math.max(slowest, System.nanoTime() - t0);
      writes++;
      assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(30), "10,000 leases still not expired");
    }
    assertTrue(c2.leaseList().isEmpty());
    assertTrue(slowest < TimeUnit.SECONDS.toNanos(2), "a write waited " + slowest / 1_000_000 + " ms meanwhile");
  }

  @Test
  void locksNeverOverlapAndADeadHoldersLockIsFreedAfterItsTtl(@TempDir Path dir) throws Exception {
    var s = started.server(TestNodes.single(dir));
    var address = "127.0.0.1:" + s.clientPort();
    var intervals = new CopyOnWriteArrayList<long[]>();
    var errors = new CopyOnWriteArrayList<Throwable>();
    var threads = new ArrayList<Thread>();
    for (int t = 0; t < 3; t++) {
      var c = client(address);
      threads.add(Thread.ofPlatform().name("locker-" + t).start(() -> {
        try {
          for (int i = 0; i < 5; i++) {
            try (var lock = c.lock("job", 5)) {
              long begin = System.nanoTime();
              assertTrue(lock.isHeld());
              Thread.sleep(20); // hold it for a moment
              intervals.add(new long[] {begin, System.nanoTime()});
            }
          }
        } catch (Throwable e) {
          errors.add(e);
        }
      }));
    }
    for (var t : threads) {
      t.join(TimeUnit.SECONDS.toMillis(60));
    }
    assertTrue(errors.isEmpty(), errors.toString());
    assertEquals(15, intervals.size());
    var sorted = intervals.stream().sorted(java.util.Comparator.comparingLong(a -> a[0])).toList();
    for (int i = 1; i < sorted.size(); i++) {
      assertTrue(sorted.get(i)[0] >= sorted.get(i - 1)[1], "two holders at once at " + i);
    }

    // A holder that dies (stops renewing, never unlocks): the next one gets the lock once its lease expires.
    var dead = client(address);
    var held = dead.lock("job", 1);
    var lease = held.leaseId();
    var survivor = client(address);
    // What a SIGKILL does to the holder: its keep-alive stops; its key and lease stay behind.
    held.abandon();
    long t0 = System.nanoTime();
    try (var next = survivor.lock("job", 5)) {
      double waited = (System.nanoTime() - t0) / 1e9;
      assertTrue(next.revision() > held.revision(), "fencing token grows");
      assertTrue(waited < 4, "freed after the 1 s TTL, waited " + waited + " s");
    }
    assertThrows(LeaseNotFoundException.class, () -> survivor.leaseTimeToLive(lease, false));
  }

  /**
   * A contender whose lease is lost while it waits (its key goes with it) does not take the lock when the holder
   * leaves: a later contender, whose key is then the lowest, holds it. It used to check only that no key came before
   * its own, not that its own was still there, so both held the lock at once. The lease is revoked here, as an expiry
   * after a partition would end it; the TTL of 60 s keeps the contender's keep-alive from noticing first.
   */
  @Test
  void aContenderWhoseLeaseIsLostWhileWaitingDoesNotTakeTheLock(@TempDir Path dir) throws Exception {
    var s = started.server(TestNodes.single(dir));
    var address = Started.address(s);
    var admin = client(address);
    var holder = client(address).lock("fenced", 60);
    var waiting = new java.util.concurrent.CompletableFuture<Lock>();
    var late = client(address);
    Thread.ofVirtual().name("contender").start(() -> {
      try {
        waiting.complete(late.lock("fenced", 60));
      } catch (Throwable e) {
        waiting.completeExceptionally(e);
      }
    });
    var prefix = utf8("fenced/");
    Await.until("the contender's key", WAIT,
        () -> admin.scanPrefix(prefix, 0, dev.kvraft.proto.Consistency.LINEARIZABLE).getKvsCount() == 2);
    var contenderKey = admin.scanPrefix(prefix, 0, dev.kvraft.proto.Consistency.LINEARIZABLE).getKvsList().stream()
        .map(kv -> kv.getKey()).filter(k -> !k.equals(holder.key())).findFirst().orElseThrow();
    admin.leaseRevoke(Long.parseUnsignedLong(contenderKey.substring(prefix.size()).toStringUtf8(), 16));
    var third = new java.util.concurrent.CompletableFuture<Lock>();
    var thirdClient = client(address);
    Thread.ofVirtual().name("third").start(() -> {
      try {
        third.complete(thirdClient.lock("fenced", 60));
      } catch (Throwable e) {
        third.completeExceptionally(e);
      }
    });
    Await.until("the third contender's key", WAIT,
        () -> admin.scanPrefix(prefix, 0, dev.kvraft.proto.Consistency.LINEARIZABLE).getKvsCount() == 2);
    holder.close();
    var next = third.get(30, TimeUnit.SECONDS);
    assertTrue(next.isHeld());
    var e = assertThrows(java.util.concurrent.ExecutionException.class, () -> waiting.get(30, TimeUnit.SECONDS),
        "the contender whose key is gone must not hold the lock too");
    assertTrue(e.getCause() instanceof LeaseNotFoundException, e.getCause().toString());
    next.close();
  }

  @Test
  void anElectionHasOneLeaderAndObserversSeeEachChange(@TempDir Path dir) throws Exception {
    var c = single(dir);
    var election = c.election("svc");
    var seen = new CopyOnWriteArrayList<String>();
    started.closing(election.observe(kv -> seen.add(kv.map(x -> x.getValue().toStringUtf8()).orElse("-"))));
    var first = election.campaign(utf8("a"), 5);
    assertEquals("a", election.leader().orElseThrow().getValue().toStringUtf8());
    Await.until("the observer to see the first leader", WAIT, () -> seen.contains("a"));
    var second = new java.util.concurrent.CompletableFuture<Lock>();
    var other = client("127.0.0.1:" + servers.get(0).clientPort()).election("svc");
    Thread.ofVirtual().start(() -> {
      try {
        second.complete(other.campaign(utf8("b"), 5));
      } catch (Throwable e) {
        second.completeExceptionally(e);
      }
    });
    assertTrue(election.proclaim(first, utf8("a2")));
    Await.until("the observer to see the new value", WAIT, () -> seen.contains("a2"));
    assertFalse(second.isDone(), "one leader at a time");
    election.resign(first);
    var b = second.get(30, TimeUnit.SECONDS);
    assertFalse(election.proclaim(first, utf8("a3")), "a resigned leader cannot proclaim");
    assertEquals("b", election.leader().orElseThrow().getValue().toStringUtf8());
    Await.until("the observer to see every leader", WAIT, () -> seen.contains("b"));
    assertEquals(List.of("-", "a", "a2", "b"), List.copyOf(seen));
    b.close();
  }
  /**
   * A renewal that reaches a node which hangs without closing the connection (stopped, paused, cut off) waits at
   * most half of what the lease surely has left, not the client's whole timeout (10 s here, against a 3 s TTL), so
   * the next renewal, on another node, comes before the lease may expire (found by review: the lease was lost
   * although another node answered well within its TTL).
   */
  @Test
  void aRenewalStuckOnAHungNodeLeavesTimeToRenewOnAnother() throws Exception {
    var toA = new java.util.concurrent.atomic.AtomicInteger();
    java.util.function.Function<Request, dev.kvraft.proto.Response> renew = r -> dev.kvraft.proto.Response.newBuilder()
        .setLeaseKeepAlive(dev.kvraft.proto.LeaseKeepAliveResult.newBuilder().setId(r.getLeaseKeepAlive().getId())
            .setTtlSeconds(3)).build();
    try (var a = new FakeNode(r -> r.hasLeaseKeepAlive() && toA.incrementAndGet() == 1 ? renew.apply(r) : null);
         var b = new FakeNode(r -> r.hasLeaseKeepAlive() ? renew.apply(r) : null)) {
      var c = started.closing(KvClient.builder().addresses(a.address(), b.address()).discoverMembers(false)
          .timeout(Duration.ofSeconds(10)).build());
      try (var alive = c.keepAlive(7)) {
        Await.until("two renewals answered by the other node", Duration.ofSeconds(8),
            () -> b.received.stream().filter(Request::hasLeaseKeepAlive).count() >= 2);
        assertTrue(alive.isAlive(), alive.lostBecause());
      }
    }
  }
}
