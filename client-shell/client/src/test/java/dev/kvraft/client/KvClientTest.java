package dev.kvraft.client;

import static dev.kvraft.client.KvClient.utf8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.kvraft.proto.Consistency;
import dev.kvraft.proto.Put;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import dev.kvraft.server.KvraftServer;
import dev.kvraft.server.testing.Await;
import dev.kvraft.server.testing.TestNodes;
import dev.kvraft.testkit.FreePorts;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(120)
class KvClientTest {
  @TempDir
  static Path dir;
  static KvraftServer server;
  static KvClient client;

  @BeforeAll
  static void start() throws Exception {
    server = KvraftServer.start(TestNodes.single(dir));
    client = KvClient.connect("127.0.0.1:" + server.clientPort());
  }

  @AfterAll
  static void stop() {
    client.close();
    server.close();
  }

  @Test
  void typedCalls() {
    long rev = client.put("client/a", "1");
    assertTrue(rev > 0);
    assertEquals(utf8("1"), client.get("client/a").orElseThrow().getValue());
    assertEquals(utf8("1"), client.putPrev(utf8("client/a"), utf8("2")).orElseThrow().getValue());
    assertTrue(client.get(utf8("client/a"), Consistency.STALE).isPresent());
    client.put("client/b", "x");
    assertEquals(2, client.scanPrefix(utf8("client/"), 0, Consistency.LINEARIZABLE).getKvsCount());
    assertTrue(client.cas(utf8("client/a"), utf8("2"), utf8("3")));
    assertFalse(client.cas(utf8("client/a"), utf8("2"), utf8("4")));
    assertFalse(client.cas(utf8("client/a"), null, utf8("5")), "cas on absence fails when the key exists");
    assertTrue(client.cas(utf8("client/new"), null, utf8("5")));
    var kv = client.get("client/a").orElseThrow();
    assertTrue(client.casRevision(utf8("client/a"), kv.getModRevision(), utf8("6")));
    assertEquals(2, client.delete(utf8("client/a"), utf8("client/c")));
    assertEquals(0, client.delete("client/a"));
    assertEquals("n1", client.status().getNodeId());
    assertEquals(1, client.members().getMembersCount());
  }

  @Test
  void oneExceptionTypePerErrorCode() {
    assertThrows(InvalidArgumentException.class, () -> client.put("", "v"));
    var e = assertThrows(TooLargeException.class, () -> client.put("k".repeat(5000), "v"));
    assertTrue(e.getMessage().contains("5000"), e.getMessage());
    assertThrows(TooLargeException.class,
        () -> client.put(utf8("k"), ByteString.copyFrom(new byte[(1 << 20) + 1])));
  }

  @Test
  void aLostConnectionMeansRetryForAReadAndOutcomeUnknownForAWrite() {
    var cause = new java.io.IOException("lost connection to 127.0.0.1:1");
    var read = KvClient.connectionLost(Request.newBuilder().setGet(dev.kvraft.proto.Get.newBuilder()
        .setKey(utf8("k"))), cause);
    assertTrue(read instanceof UnavailableException, read.toString());
    assertEquals(cause, read.getCause());
    var write = KvClient.connectionLost(Request.newBuilder().setPut(Put.newBuilder().setKey(utf8("k"))), cause);
    assertTrue(write instanceof KvTimeoutException, write.toString());
    assertEquals("lost connection to 127.0.0.1:1; the write may or may not have been applied", write.getMessage());
  }

  @Test
  void pipelinesManyRequestsOnOneConnection() {
    var futures = new ArrayList<CompletableFuture<Response>>();
    for (int i = 0; i < 2000; i++) {
      futures.add(client.callAsync(Request.newBuilder()
          .setPut(Put.newBuilder().setKey(utf8("pipe/" + i)).setValue(utf8("v" + i)))));
    }
    for (var f : futures) {
      assertFalse(f.join().hasError());
    }
    assertEquals(utf8("v1999"), client.get("pipe/1999").orElseThrow().getValue());
  }

  @Test
  void noReachableNodeIsUnavailableWithinTheTimeout() {
    int port = FreePorts.take(1).get(0);
    try (var c = KvClient.builder().addresses("127.0.0.1:" + port).timeout(Duration.ofMillis(800)).build()) {
      long start = System.nanoTime();
      var e = assertThrows(UnavailableException.class, () -> c.get("k"));
      assertTrue(e.getMessage().contains("cannot connect"), e.getMessage());
      assertTrue(Duration.ofNanos(System.nanoTime() - start).compareTo(Duration.ofSeconds(5)) < 0);
    }
  }

  /** A closed client opens no connection again, for any kind of request (a STALE read used to open one). */
  @Test
  void aClosedClientRefusesEveryRequest() {
    var c = KvClient.builder().addresses("127.0.0.1:" + server.clientPort()).timeout(Duration.ofMillis(800)).build();
    c.put("closing", "v");
    c.close();
    for (var consistency : List.of(Consistency.LINEARIZABLE, Consistency.STALE)) {
      var e = assertThrows(UnavailableException.class, () -> c.get(KvClient.utf8("closing"), consistency),
          consistency.toString());
      assertTrue(e.getMessage().contains("closed"), e.getMessage());
    }
    assertThrows(UnavailableException.class, () -> c.put("closing", "w"));
    assertTrue(c.currentAddress().isEmpty(), "no connection is left open");
  }

  /**
   * An address named twice is one node: a node that answers UNAVAILABLE is left for the next distinct one, not for
   * its own duplicate (which used to keep the client on it until its timeout).
   */
  @Test
  void aDuplicatedAddressDoesNotTrapFailover() throws Exception {
    try (var noLeader = new FakeNode(r -> Response.newBuilder().setError(dev.kvraft.proto.Error.newBuilder()
        .setCode(dev.kvraft.proto.Error.Code.UNAVAILABLE).setMessage("no leader")).build());
        var c = KvClient.builder().addresses(noLeader.address(), noLeader.address())
            .addresses("127.0.0.1:" + server.clientPort()).discoverMembers(false).timeout(Duration.ofSeconds(3))
            .build()) {
      c.put("dup", "1");
      assertEquals(utf8("1"), c.get("dup").orElseThrow().getValue());
      assertEquals(List.of(noLeader.address(), "127.0.0.1:" + server.clientPort()), c.addresses());
    }
  }

  /**
   * A client told to talk to its addresses only (no member discovery, so no writes to the leader either) does not
   * follow an UNAVAILABLE answer's leader address to a node it was not given: it moves to its next address. It used to
   * add the named address to its list and send that write, and everything after it, there.
   */
  @Test
  void aClientOfGivenAddressesOnlyFollowsNoLeaderAddressOutsideThem() throws Exception {
    try (var elsewhere = new FakeNode(r -> Response.newBuilder().setPut(dev.kvraft.proto.PutResult.getDefaultInstance())
            .build());
        var follower = new FakeNode(r -> Response.newBuilder().setError(dev.kvraft.proto.Error.newBuilder()
            .setCode(dev.kvraft.proto.Error.Code.UNAVAILABLE).setMessage("not the leader")
            .setLeaderAddress(elsewhere.address())).build());
        var c = KvClient.builder().addresses(follower.address(), "127.0.0.1:" + server.clientPort())
            .discoverMembers(false).timeout(Duration.ofSeconds(3)).build()) {
      c.put("given-only", "1");
      assertEquals(utf8("1"), client.get("given-only").orElseThrow().getValue(), "written on the given node");
      assertTrue(elsewhere.received.isEmpty(), "sent to an address never given: " + elsewhere.received);
      assertEquals(List.of(follower.address(), "127.0.0.1:" + server.clientPort()), c.addresses());
    }
  }

  /**
   * A node that answers nothing (powered off or cut off, with no reset to break the connection) costs one call its
   * timeout; the next call goes to the next node. Its connection used to stay in the pool, open, so every later call
   * went to it and timed out too, until TCP gave up on it minutes later.
   */
  @Test
  void aNodeThatAnswersNothingPastItsDeadlineIsLeftForTheNext() throws Exception {
    try (var silent = new FakeNode(r -> null);
        var c = KvClient.builder().addresses(silent.address(), "127.0.0.1:" + server.clientPort())
            .discoverMembers(false).timeout(Duration.ofMillis(500)).build()) {
      client.put("after-silence", "1");
      var e = assertThrows(KvTimeoutException.class, () -> c.get("after-silence"));
      assertTrue(e.getMessage().contains(silent.address()), e.getMessage());
      assertEquals(utf8("1"), c.get("after-silence").orElseThrow().getValue());
      assertEquals(1, silent.received.size(), "nothing more was sent to the silent node");
    }
  }

  /**
   * An interrupted caller's call that cannot connect ends at once: it used to try to connect again and again, with
   * no pause (an interrupted sleep returns at once), until its timeout. A keep-alive that gives its lease up
   * interrupts its renewal so, typically while no node can be reached.
   */
  @Test
  void anInterruptedCallThatCannotConnectEndsAtOnce() throws Exception {
    try (var c = KvClient.builder().addresses("127.0.0.1:" + FreePorts.take(1).get(0)).discoverMembers(false)
        .timeout(Duration.ofSeconds(5)).build()) {
      var took = new CompletableFuture<Duration>();
      Thread.ofVirtual().name("interrupted").start(() -> {
        Thread.currentThread().interrupt();
        long start = System.nanoTime();
        try {
          c.get("k");
        } catch (KvException expected) {
          // what an interrupted call says
        }
        took.complete(Duration.ofNanos(System.nanoTime() - start));
      });
      var t = took.get(30, java.util.concurrent.TimeUnit.SECONDS);
      assertTrue(t.compareTo(Duration.ofSeconds(2)) < 0, "took " + t);
    }
  }

  /**
   * lock() does not return a lock whose keep-alive gave up while it waited (no renewal for a whole TTL: here the node
   * answers every renewal UNAVAILABLE and the scan after the TTL), even when no key comes before its own: it would
   * be a lock whose lease nothing renews any more, {@code isHeld()} false from the start.
   */
  @Test
  void lockDoesNotReturnALockWhoseKeepAliveGaveUpWhileItWaited() throws Exception {
    var key = utf8("held/10");
    var kv = dev.kvraft.proto.KeyValue.newBuilder().setKey(key).setCreateRevision(5).build();
    var granted = new java.util.concurrent.atomic.AtomicLong();
    try (var node = new FakeNode(r -> {
          var a = Response.newBuilder().setHeader(dev.kvraft.proto.Header.newBuilder().setRevision(5));
          switch (r.getCommandCase()) {
            case LEASE_GRANT -> {
              granted.set(System.nanoTime());
              a.setLeaseGrant(dev.kvraft.proto.LeaseGrantResult.newBuilder().setId(0x10).setTtlSeconds(1));
            }
            case TXN -> a.setTxn(dev.kvraft.proto.TxnResult.newBuilder().setSucceeded(true));
            case GET -> a.setGet(dev.kvraft.proto.GetResult.newBuilder().setKv(kv));
            case SCAN -> {
              // A node slow to answer, past the lease's TTL (counted from the grant).
              long until = granted.get() + java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(1500);
              java.util.concurrent.locks.LockSupport.parkNanos(until - System.nanoTime());
              a.setScan(dev.kvraft.proto.ScanResult.newBuilder().addKvs(kv));
            }
            case LEASE_REVOKE -> a.setLeaseRevoke(dev.kvraft.proto.LeaseRevokeResult.getDefaultInstance());
            default -> a.setError(dev.kvraft.proto.Error.newBuilder()
                .setCode(dev.kvraft.proto.Error.Code.UNAVAILABLE).setMessage("no leader"));
          }
          return a.build();
        });
        var c = KvClient.builder().addresses(node.address()).discoverMembers(false).build()) {
      var e = assertThrows(LeaseNotFoundException.class, () -> c.lock("held", 1).close());
      assertTrue(e.getMessage().contains("not renewed within its TTL"), e.getMessage());
    }
  }

  /**
   * A client whose first ask for the members got no answer asks again on the connection it keeps using, and then
   * knows every member (found by review: it asked only when it opened a new connection, so a client that never
   * needed one never learned the others, and could not fail over to them).
   */
  @Test
  void aClientWhoseAskForTheMembersFailedAsksAgainOnItsOpenConnection() throws Exception {
    var asked = new java.util.concurrent.atomic.AtomicInteger();
    var other = "127.0.0.1:" + FreePorts.take(1).get(0);
    try (var node = new FakeNode(r -> {
          var a = Response.newBuilder().setHeader(dev.kvraft.proto.Header.newBuilder().setRevision(5));
          switch (r.getCommandCase()) {
            case MEMBERS -> {
              if (asked.incrementAndGet() == 1) {
                return null; // the first ask gets no answer: the client gives up on it after its connect timeout
              }
              a.setMembers(dev.kvraft.proto.MembersResult.newBuilder()
                  .addMembers(dev.kvraft.proto.Member.newBuilder().setId("n1").setClientAddress("127.0.0.1:1"))
                  .addMembers(dev.kvraft.proto.Member.newBuilder().setId("n2").setClientAddress(other)));
            }
            case GET -> a.setGet(dev.kvraft.proto.GetResult.getDefaultInstance());
            default -> a.setError(dev.kvraft.proto.Error.newBuilder()
                .setCode(dev.kvraft.proto.Error.Code.INVALID_ARGUMENT).setMessage("not in this test"));
          }
          return a.build();
        });
        var c = KvClient.builder().addresses(node.address()).connectTimeout(Duration.ofMillis(300))
            .timeout(Duration.ofSeconds(3)).build()) {
      c.get("k");
      assertEquals(1, asked.get(), "the first connection asked for the members");
      assertFalse(c.addresses().contains(other), "its ask got no answer: " + c.addresses());
      Await.until("the client to ask again and learn " + other, Duration.ofSeconds(10), () -> {
        c.get("k");
        return c.addresses().contains(other);
      });
      assertEquals(2, asked.get(), "asked once more, not on every call");
    }
  }

  /**
   * Asking a node for the members again does not hold up the call that asks, nor close(): a node that never answers
   * the ask costs the calls nothing (found by review: the second ask waited for its answer, holding the client's
   * connect lock, so every call once a second took the whole connect timeout, callAsync too, and close() waited).
   */
  @Test
  void askingAgainForTheMembersOfANodeThatNeverAnswersHoldsUpNoCallNorClose() throws Exception {
    var asked = new java.util.concurrent.atomic.AtomicInteger();
    try (var node = new FakeNode(r -> switch (r.getCommandCase()) {
          case MEMBERS -> {
            asked.incrementAndGet();
            yield null; // never answered
          }
          case GET -> Response.newBuilder().setGet(dev.kvraft.proto.GetResult.getDefaultInstance()).build();
          default -> Response.newBuilder().setError(dev.kvraft.proto.Error.newBuilder()
              .setCode(dev.kvraft.proto.Error.Code.INVALID_ARGUMENT).setMessage("not in this test")).build();
        })) {
      var c = KvClient.builder().addresses(node.address()).connectTimeout(Duration.ofSeconds(2))
          .timeout(Duration.ofSeconds(5)).build();
      try {
        c.get("k"); // the new connection's ask: it waits the connect timeout, as before
        long slowest = 0;
        long until = System.nanoTime() + java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(3500);
        while (System.nanoTime() < until) {
          long t0 = System.nanoTime();
          c.get("k");
          slowest = Math.max(slowest, System.nanoTime() - t0);
          Thread.sleep(50);
        }
        assertTrue(slowest < java.util.concurrent.TimeUnit.SECONDS.toNanos(1),
            "no call waited for an ask (connect timeout 2 s); the slowest took " + slowest / 1_000_000 + " ms");
        assertTrue(asked.get() >= 3, "asked again while the calls went on: " + asked.get());
        assertTrue(asked.get() <= 6, "at most once a second: " + asked.get());
      } finally {
        long t0 = System.nanoTime();
        c.close();
        assertTrue(System.nanoTime() - t0 < java.util.concurrent.TimeUnit.SECONDS.toNanos(1),
            "close() took " + (System.nanoTime() - t0) / 1_000_000 + " ms");
      }
    }
  }

  /**
   * A node that refuses the members ask made again in the background is not asked again and again: the refusal ends
   * the asking, as it does on a new connection (found by review: it asked every second for as long as it was refused).
   */
  @Test
  void aRefusedBackgroundAskForTheMembersIsNotRepeated() throws Exception {
    var asked = new java.util.concurrent.atomic.AtomicInteger();
    try (var node = new FakeNode(r -> switch (r.getCommandCase()) {
          case MEMBERS -> asked.incrementAndGet() == 1 ? null // the new connection's ask: no answer
              : Response.newBuilder().setError(dev.kvraft.proto.Error.newBuilder()
                  .setCode(dev.kvraft.proto.Error.Code.PERMISSION_DENIED).setMessage("not for you")).build();
          case GET -> Response.newBuilder().setGet(dev.kvraft.proto.GetResult.getDefaultInstance()).build();
          default -> Response.newBuilder().setError(dev.kvraft.proto.Error.newBuilder()
              .setCode(dev.kvraft.proto.Error.Code.INVALID_ARGUMENT).setMessage("not in this test")).build();
        });
        var c = KvClient.builder().addresses(node.address()).connectTimeout(Duration.ofMillis(300))
            .timeout(Duration.ofSeconds(3)).build()) {
      c.get("k");
      Await.until("the background ask", Duration.ofSeconds(10), () -> {
        c.get("k");
        return asked.get() >= 2;
      });
      long until = System.nanoTime() + java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(3000);
      while (System.nanoTime() < until) {
        c.get("k");
        Thread.sleep(50);
      }
      assertEquals(2, asked.get(), "the refused ask was not repeated (it may be asked once a second)");
    }
  }

  /** A lock whose key is gone right after it was created (its lease lost) says so, as a KvException. */
  @Test
  void aLockWhoseKeyIsGoneRightAfterItWasCreatedSaysTheLeaseIsLost() throws Exception {
    try (var node = new FakeNode(r -> {
          var a = Response.newBuilder().setHeader(dev.kvraft.proto.Header.newBuilder().setRevision(5));
          switch (r.getCommandCase()) {
            case LEASE_GRANT -> a.setLeaseGrant(dev.kvraft.proto.LeaseGrantResult.newBuilder().setId(0x10)
                .setTtlSeconds(10));
            case TXN -> a.setTxn(dev.kvraft.proto.TxnResult.newBuilder().setSucceeded(true));
            case GET -> a.setGet(dev.kvraft.proto.GetResult.getDefaultInstance()); // the key is gone already
            case LEASE_REVOKE -> a.setLeaseRevoke(dev.kvraft.proto.LeaseRevokeResult.getDefaultInstance());
            default -> a.setError(dev.kvraft.proto.Error.newBuilder()
                .setCode(dev.kvraft.proto.Error.Code.UNAVAILABLE).setMessage("no leader"));
          }
          return a.build();
        });
        var c = KvClient.builder().addresses(node.address()).discoverMembers(false).build()) {
      // It was a NoSuchElementException from Optional.orElseThrow, which no caller of lock() expects.
      var e = assertThrows(LeaseNotFoundException.class, () -> c.lock("held", 10).close());
      assertTrue(e.getMessage().contains("is gone"), e.getMessage());
    }
  }

  /**
   * close() ends every call at once: a read waiting for its answer when the client closes is not retried until its
   * timeout (10 s here), and a call after close fails at once.
   */
  @Test
  void closeEndsCallsInFlightAtOnce() throws Exception {
    try (var silent = new FakeNode(r -> null)) {
      var c = KvClient.builder().addresses(silent.address()).discoverMembers(false).build();
      var read = CompletableFuture.supplyAsync(() -> c.get("k"), r -> Thread.ofVirtual().name("read").start(r));
      Await.until("the read to reach the node", Duration.ofSeconds(10), () -> !silent.received.isEmpty());
      long start = System.nanoTime();
      c.close();
      var e = assertThrows(java.util.concurrent.ExecutionException.class,
          () -> read.get(5, java.util.concurrent.TimeUnit.SECONDS)).getCause();
      assertTrue(e instanceof UnavailableException && e.getMessage().contains("closed"), e.toString());
      assertThrows(UnavailableException.class, () -> c.get("k"));
      var took = Duration.ofNanos(System.nanoTime() - start);
      assertTrue(took.compareTo(Duration.ofSeconds(2)) < 0, "took " + took);
    }
  }

  /** Closing a client ends its watches and keep-alives, saying why, instead of leaving them retrying forever. */
  @Test
  void closeEndsWatchesAndKeepAlives() throws Exception {
    var c = KvClient.connect("127.0.0.1:" + server.clientPort());
    var error = new java.util.concurrent.atomic.AtomicReference<KvException>();
    var created = new java.util.concurrent.CountDownLatch(1);
    var watcher = c.watch(utf8("closing/w"), ByteString.EMPTY, 0, new WatchListener() {
      @Override
      public void onEvents(List<dev.kvraft.proto.Event> events, long revision) {}

      @Override
      public void onProgress(long revision) {
        created.countDown();
      }

      @Override
      public void onError(KvException e) {
        error.set(e);
      }
    });
    var keepAlive = c.keepAlive(c.leaseGrant(60).getId());
    assertTrue(created.await(10, java.util.concurrent.TimeUnit.SECONDS), "the watch was created");
    c.close();
    Await.until("the watch and the keep-alive to end", Duration.ofSeconds(10),
        () -> !watcher.isOpen() && !keepAlive.isAlive());
    assertTrue(error.get() instanceof UnavailableException && error.get().getMessage().contains("closed"),
        String.valueOf(error.get()));
    assertTrue(keepAlive.lostBecause().contains("closed"), keepAlive.lostBecause());
  }

  /**
   * A listener that throws ends its watch, and is told so through onError, with where to watch again from; the
   * watch used to die silently, leaving whoever waited for onError (kvsh's watch) waiting forever.
   */
  @Test
  void aListenerThatThrowsEndsItsWatchAndIsTold() throws Exception {
    var bug = new IllegalStateException("listener bug");
    assertInstanceOf(InternalException.class, watchWithAListenerThrowing(bug, "throws/k"));
  }

  /**
   * An Error thrown by the listener (a failed assertion in a test's listener, a missing class) ends the watch the
   * same way: onError is told, instead of the watch thread dying with nobody told.
   */
  @Test
  void aListenerThatThrowsAnErrorEndsItsWatchAndIsTold() throws Exception {
    watchWithAListenerThrowing(new AssertionError("listener assertion"), "throws-error/k");
  }

  /**
   * Watches {@code key} with a listener that throws {@code bug} on its first events, puts the key, and checks the
   * watch ends, telling onError what was thrown and the revision to watch again from; returns what onError got.
   */
  private KvException watchWithAListenerThrowing(Throwable bug, String key) throws Exception {
    var error = new java.util.concurrent.atomic.AtomicReference<KvException>();
    var created = new java.util.concurrent.CountDownLatch(1);
    var watcher = client.watch(utf8(key), ByteString.EMPTY, 0, new WatchListener() {
      @Override
      public void onEvents(List<dev.kvraft.proto.Event> events, long revision) {
        if (bug instanceof RuntimeException r) {
          throw r;
        }
        throw (Error) bug;
      }

      @Override
      public void onProgress(long revision) {
        created.countDown();
      }

      @Override
      public void onError(KvException e) {
        error.set(e);
      }
    });
    try {
      assertTrue(created.await(10, java.util.concurrent.TimeUnit.SECONDS), "the watch was created");
      long rev = client.put(key, "v");
      Await.until("the listener to hear that its watch ended", Duration.ofSeconds(10), () -> error.get() != null);
      var e = error.get();
      assertEquals(bug, e.getCause());
      assertTrue(e.getMessage().contains("watch again from revision " + rev), e.getMessage());
      Await.until("the watch to end", Duration.ofSeconds(10), () -> !watcher.isOpen());
      assertTrue(watcher.lastRevision() < rev, "the events it threw on are not counted as delivered");
      return e;
    } finally {
      watcher.close();
    }
  }

  /**
   * A keep-alive waiting between two renewals (a third of the TTL: 20 s here) ends when its client closes, not at its
   * next renewal: isAlive() turns false at once, and its thread ends.
   */
  @Test
  void closeEndsAKeepAliveBetweenRenewals() throws Exception {
    var c = KvClient.connect("127.0.0.1:" + server.clientPort());
    var keepAlive = c.keepAlive(c.leaseGrant(60).getId());
    Thread.sleep(1_000); // its first renewal is done: it waits ~20 s for the next
    assertTrue(keepAlive.isAlive());
    long start = System.nanoTime();
    c.close();
    Await.until("the keep-alive to end", Duration.ofSeconds(3), () -> !keepAlive.isAlive());
    assertTrue(keepAlive.lostBecause().contains("closed"), keepAlive.lostBecause());
    var took = Duration.ofNanos(System.nanoTime() - start);
    assertTrue(took.compareTo(Duration.ofSeconds(2)) < 0, "took " + took);
  }

  /**
   * A keep-alive cut off from the cluster's majority (every renewal after the first answered UNAVAILABLE, as on a
   * partitioned follower) says the lease may be lost once a TTL passed since its last successful renewal was sent.
   * It used to say alive for as long as the partition lasted, while the majority expired the lease (and gave a lock
   * it guarded to another holder).
   */
  @Test
  void aKeepAliveNotRenewedForAWholeTtlSaysTheLeaseMayBeLost() throws Exception {
    var renewals = new java.util.concurrent.atomic.AtomicInteger();
    try (var cutOff = new FakeNode(r -> r.hasLeaseKeepAlive() && renewals.getAndIncrement() == 0
            ? Response.newBuilder().setLeaseKeepAlive(dev.kvraft.proto.LeaseKeepAliveResult.newBuilder().setId(7)
                .setTtlSeconds(1)).build()
            : Response.newBuilder().setError(dev.kvraft.proto.Error.newBuilder()
                .setCode(dev.kvraft.proto.Error.Code.UNAVAILABLE).setMessage("no leader")).build());
        var c = KvClient.builder().addresses(cutOff.address()).discoverMembers(false)
            .timeout(Duration.ofSeconds(30)).build()) {
      long start = System.nanoTime();
      var k = c.keepAlive(7);
      Await.until("a renewal after the first", Duration.ofSeconds(10), () -> renewals.get() >= 2);
      Await.until("the keep-alive to say the lease may be lost", Duration.ofSeconds(5), () -> !k.isAlive());
      var took = Duration.ofNanos(System.nanoTime() - start);
      assertTrue(took.compareTo(Duration.ofSeconds(1)) >= 0, "not before the 1 s TTL passed: " + took);
      assertTrue(k.lostBecause().contains("not renewed within its TTL"), k.lostBecause());
      k.close();
      assertFalse(k.isAlive(), "once lost, it stays lost");
    }
  }

  @Test
  void badAddressesAreRejectedUpFront() {
    var e = assertThrows(IllegalArgumentException.class, () -> KvClient.connect("localhost"));
    assertTrue(e.getMessage().contains("host:port"));
    assertThrows(IllegalArgumentException.class, () -> KvClient.builder().build());
  }

  @Test
  void prefixEnd() {
    assertEquals(utf8("b"), KvClient.prefixEnd(utf8("a")));
    assertEquals(ByteString.copyFrom(new byte[] {1}), KvClient.prefixEnd(ByteString.copyFrom(new byte[] {0, -1})));
    assertEquals(ByteString.EMPTY, KvClient.prefixEnd(ByteString.copyFrom(new byte[] {-1, -1})));
  }

  /**
   * An election's candidates as a {@link FakeNode} shows them: first {@code svc/1} ("a") leads; the watch then
   * delivers its delete at revision 8, after which the scans show {@code svc/2} ("b") alone, but only once
   * {@code failing} is cleared: until then each scan after the watch is answered with {@code afterWatch}'s error.
   */
  private static FakeNode electionNode(java.util.concurrent.atomic.AtomicBoolean failing,
      java.util.concurrent.atomic.AtomicInteger failed, dev.kvraft.proto.Error.Code code) throws Exception {
    var a = dev.kvraft.proto.KeyValue.newBuilder().setKey(utf8("svc/1")).setValue(utf8("a")).setCreateRevision(5)
        .setModRevision(5).setVersion(1).build();
    var b = dev.kvraft.proto.KeyValue.newBuilder().setKey(utf8("svc/2")).setValue(utf8("b")).setCreateRevision(7)
        .setModRevision(7).setVersion(1).build();
    var watched = new java.util.concurrent.atomic.AtomicBoolean();
    return new FakeNode(r -> {
      var header = dev.kvraft.proto.Header.newBuilder().setRevision(watched.get() ? 8 : 6);
      if (r.hasWatch()) {
        watched.set(true);
        return Response.newBuilder().setHeader(header.setRevision(8)).setWatch(dev.kvraft.proto.WatchResult
            .newBuilder().addEvents(dev.kvraft.proto.Event.newBuilder().setType(dev.kvraft.proto.Event.Type.DELETE)
                .setKv(dev.kvraft.proto.KeyValue.newBuilder().setKey(a.getKey()).setModRevision(8)))).build();
      }
      if (r.hasScan()) {
        if (!watched.get()) {
          return Response.newBuilder().setHeader(header).setScan(dev.kvraft.proto.ScanResult.newBuilder()
              .addKvs(a.toBuilder().clearValue())).build();
        }
        if (failing.get()) {
          failed.incrementAndGet();
          return Response.newBuilder().setError(dev.kvraft.proto.Error.newBuilder().setCode(code)
              .setMessage("the fake node says " + code)).build();
        }
        return Response.newBuilder().setHeader(header).setScan(dev.kvraft.proto.ScanResult.newBuilder()
            .addKvs(b.toBuilder().clearValue())).build();
      }
      if (r.hasGet()) {
        var kv = r.getGet().getKey().equals(a.getKey()) ? a : b;
        return Response.newBuilder().setHeader(header).setGet(dev.kvraft.proto.GetResult.newBuilder().setKv(kv))
            .build();
      }
      return null;
    });
  }

  /**
   * An election observer goes on when reading the leader after a change fails for a while (here UNAVAILABLE for
   * longer than a whole call of 300 ms, as while the cluster elects its own leader), and then sees the new leader.
   * It used to stop silently: the read's exception ended the watch, and the observer had no way to hear of it.
   */
  @Test
  void anElectionObserverGoesOnThroughLeaderReadsThatFailForAWhile() throws Exception {
    var failing = new java.util.concurrent.atomic.AtomicBoolean(true);
    var failed = new java.util.concurrent.atomic.AtomicInteger();
    try (var node = electionNode(failing, failed, dev.kvraft.proto.Error.Code.UNAVAILABLE);
        var c = KvClient.builder().addresses(node.address()).discoverMembers(false)
            .timeout(Duration.ofMillis(300)).build()) {
      var seen = new java.util.concurrent.CopyOnWriteArrayList<String>();
      var errors = new java.util.concurrent.CopyOnWriteArrayList<KvException>();
      var w = c.election("svc").observe(kv -> seen.add(kv.map(x -> x.getValue().toStringUtf8()).orElse("-")),
          errors::add);
      // A 300 ms call makes at most five attempts (backing off 50, 100, 200 ms): eight failed scans span two calls.
      Await.until("leader reads to fail for more than a call", Duration.ofSeconds(20), () -> failed.get() >= 8);
      failing.set(false);
      Await.until("the observer to see the new leader", Duration.ofSeconds(20), () -> seen.contains("b"));
      assertEquals(List.of("a", "b"), List.copyOf(seen));
      assertEquals(List.of(), List.copyOf(errors));
      assertTrue(w.isOpen());
      w.close();
    }
  }

  /** A leader read that fails for good (PERMISSION_DENIED) ends the observation, and onError says why, once. */
  @Test
  void anElectionObserverWhoseLeaderReadIsRefusedIsToldAndEnds() throws Exception {
    var failed = new java.util.concurrent.atomic.AtomicInteger();
    try (var node = electionNode(new java.util.concurrent.atomic.AtomicBoolean(true), failed,
        dev.kvraft.proto.Error.Code.PERMISSION_DENIED);
        var c = KvClient.builder().addresses(node.address()).discoverMembers(false)
            .timeout(Duration.ofMillis(300)).build()) {
      var errors = new java.util.concurrent.CopyOnWriteArrayList<KvException>();
      var w = c.election("svc").observe(kv -> { }, errors::add);
      Await.until("the observation to end", Duration.ofSeconds(20), () -> !w.isOpen());
      assertEquals(1, errors.size(), errors.toString());
      assertInstanceOf(PermissionDeniedException.class, errors.get(0));
      assertEquals(1, failed.get(), "a refusal is not retried");
    }
  }

  /**
   * An address spelled two ways that need no DNS to match counts once, kept in one spelling: a host name's case, an
   * IPv6 literal's long and short forms, a port with a leading zero. Found by review: each spelling counted as a
   * node of its own (failover moved from a node to itself, STALE reads went to it twice as often). A name and an IP
   * still count twice (see Addresses.canonical).
   */
  @Test
  void anAddressSpelledTwoWaysCountsOnce() {
    try (var c = KvClient.builder().addresses("Node1.Example:6001", "node1.example:6001", "[::1]:6001",
        "[0:0:0:0:0:0:0:1]:6001,127.0.0.1:06001", "127.0.0.1:6001", "[2001:DB8:0:0:1:0:0:1]:6002",
        "[2001:db8::1:0:0:1]:6002").build()) {
      assertEquals(List.of("node1.example:6001", "[::1]:6001", "127.0.0.1:6001", "[2001:db8::1:0:0:1]:6002"),
          c.addresses());
    }
    var e = assertThrows(IllegalArgumentException.class, () -> KvClient.builder().addresses("[::zz]:6001"));
    assertTrue(e.getMessage().contains("not an IP address"), e.getMessage());
  }

  /**
   * A leader address a node names is matched in the same spelling: here the node answering UNAVAILABLE names the
   * real node as {@code LOCALHOST:port}, which the client was given as {@code localhost:port}. It used to be added as
   * a third node.
   */
  @Test
  void aLeaderNamedInAnotherSpellingIsTheNodeAlreadyKnown() throws Exception {
    var real = "localhost:" + server.clientPort();
    try (var follower = new FakeNode(r -> r.hasMembers()
            ? Response.newBuilder().setMembers(dev.kvraft.proto.MembersResult.getDefaultInstance()).build()
            : Response.newBuilder().setError(dev.kvraft.proto.Error.newBuilder()
                .setCode(dev.kvraft.proto.Error.Code.UNAVAILABLE).setMessage("not the leader")
                .setLeaderAddress(real.toUpperCase(java.util.Locale.ROOT))).build());
        var c = KvClient.builder().addresses(follower.address(), real).timeout(Duration.ofSeconds(5)).build()) {
      c.put("spelled", "1");
      assertEquals(List.of(follower.address(), real), c.addresses());
    }
  }
}
