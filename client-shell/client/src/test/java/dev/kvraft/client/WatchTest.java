package dev.kvraft.client;

import static dev.kvraft.client.KvClient.utf8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.kvraft.proto.Event;
import dev.kvraft.proto.Op;
import dev.kvraft.proto.Put;
import dev.kvraft.proto.Txn;
import dev.kvraft.proto.Watch;
import dev.kvraft.server.KvraftServer;
import dev.kvraft.server.testing.Await;
import dev.kvraft.server.testing.Nodes;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Watches (issue #20) through {@link KvClient#watch}: live events, whole revisions, prev_kv and filters; a watch from
 * the past caught up from kvraft.db and joined to the live stream; compacted and future start revisions; progress
 * notifications; a slow listener; many watchers; and a watch that outlives the node it was on.
 */
@Timeout(180)
class WatchTest {
  private static final Duration WAIT = Duration.ofSeconds(30);
  private final Started started = new Started();
  private final List<KvraftServer> servers = started.servers;

  @AfterEach
  void stop() throws Exception {
    started.close();
  }

  /** Records what a watch delivered: every event, and each onEvents call's revisions. */
  static final class Recorder implements WatchListener {
    final List<Event> events = new CopyOnWriteArrayList<>();
    final List<List<Long>> calls = new CopyOnWriteArrayList<>();
    final AtomicReference<KvException> error = new AtomicReference<>();
    volatile long progress;
    /** The watch was created (its first answer came). */
    volatile boolean created;
    volatile long delayMillis;

    @Override
    public void onEvents(List<Event> batch, long revision) {
      events.addAll(batch);
      calls.add(batch.stream().map(e -> e.getKv().getModRevision()).toList());
      if (delayMillis > 0) {
        try {
          Thread.sleep(delayMillis); // a deliberately slow consumer
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
    }

    @Override
    public void onProgress(long revision) {
      created = true;
      progress = revision;
    }

    @Override
    public void onError(KvException e) {
      error.set(e);
    }

    List<String> lines() {
      return events.stream().map(WatchTest::line).toList();
    }

    void awaitEvents(int n) throws Exception {
      Await.until(n + " events (have " + events.size() + ")", WAIT, () -> events.size() >= n);
    }
  }

  static String line(Event e) {
    return e.getType() + " " + e.getKv().getKey().toStringUtf8()
        + (e.getType() == Event.Type.PUT ? "=" + e.getKv().getValue().toStringUtf8() : "")
        + " @" + e.getKv().getModRevision();
  }

  private KvClient single(Path dir, Map<String, String> settings) throws Exception {
    return started.single(dir, settings);
  }

  private Watcher watch(KvClient c, Watch w, Recorder r) {
    return started.closing(c.watch(w, r));
  }

  @Test
  void liveEventsComeWholeAndInOrder(@TempDir Path dir) throws Exception {
    var c = single(dir, Map.of());
    var all = new Recorder();
    var prev = new Recorder();
    var putsOnly = new Recorder();
    watch(c, Watch.newBuilder().setKey(utf8("w/")).setRangeEnd(utf8("w0")).build(), all);
    watch(c, Watch.newBuilder().setKey(utf8("w/a")).setPrevKv(true).build(), prev);
    watch(c, Watch.newBuilder().setKey(utf8("w/")).setRangeEnd(utf8("w0")).setNoDelete(true).build(), putsOnly);
    Await.until("the watches to be created", WAIT, () -> all.created && prev.created && putsOnly.created);

    long r1 = c.put("w/a", "1");
    c.put("other", "x"); // outside every range
    long r2 = c.put("w/a", "2");
    // One txn, one revision, two events: delivered together.
    c.txn(Txn.newBuilder().addSuccess(Op.newBuilder().setPut(Put.newBuilder().setKey(utf8("w/b")).setValue(utf8("3"))))
        .addSuccess(Op.newBuilder().setPut(Put.newBuilder().setKey(utf8("w/c")).setValue(utf8("4")))).build());
    long r3 = c.status().getRevision();
    assertEquals(1, c.delete("w/a"));
    long r4 = r3 + 1;
    c.put("w/done", "x");
    all.awaitEvents(6);

    assertEquals(List.of("PUT w/a=1 @" + r1, "PUT w/a=2 @" + r2, "PUT w/b=3 @" + r3, "PUT w/c=4 @" + r3,
        "DELETE w/a @" + r4, "PUT w/done=x @" + (r4 + 1)), all.lines());
    assertTrue(all.calls.contains(List.of(r3, r3)) || all.calls.stream().anyMatch(call -> call.contains(r3)
        && call.indexOf(r3) + 1 < call.size() && call.get(call.indexOf(r3) + 1) == r3),
        "the txn's two events come in one call: " + all.calls);
    var first = all.events.get(0).getKv();
    assertEquals(1, first.getVersion());
    assertEquals(r1, first.getCreateRevision());
    assertEquals(2, all.events.get(1).getKv().getVersion());

    putsOnly.awaitEvents(5);
    assertEquals(5, putsOnly.events.size(), "no deletes: " + putsOnly.lines());
    assertTrue(putsOnly.events.stream().allMatch(e -> e.getType() == Event.Type.PUT));

    prev.awaitEvents(3);
    assertFalse(prev.events.get(0).hasPrevKv(), "created: no previous value");
    assertEquals("1", prev.events.get(1).getPrevKv().getValue().toStringUtf8());
    assertEquals("2", prev.events.get(2).getPrevKv().getValue().toStringUtf8());
  }

  @Test
  void aWatchFromThePastCatchesUpFromKvraftDbAndGoesOnLive(@TempDir Path dir) throws Exception {
    var c = single(dir, Map.of());
    var expected = new ArrayList<String>();
    for (int i = 0; i < 3000; i++) {
      var key = "p/" + (i % 50);
      long rev = c.put(key, "v" + i);
      expected.add("PUT " + key + "=v" + i + " @" + rev);
    }
    long first = Long.parseLong(expected.getFirst().substring(expected.getFirst().indexOf('@') + 1));
    var r = new Recorder();
    var w = watch(c, Watch.newBuilder().setKey(utf8("p/")).setRangeEnd(utf8("p0")).setStartRevision(first)
        .setPrevKv(true).build(), r);
    // Writes go on while it catches up: they must come after the history, once each.
    for (int i = 3000; i < 3500; i++) {
      var key = "p/" + (i % 50);
      long rev = c.put(key, "v" + i);
      expected.add("PUT " + key + "=v" + i + " @" + rev);
    }
    r.awaitEvents(expected.size());
    assertEquals(expected, r.lines());
    // prev_kv from history: the key's previous value, 50 writes back.
    var e = r.events.get(100);
    assertEquals("v50", e.getPrevKv().getValue().toStringUtf8(), line(e));
    assertEquals(3, e.getKv().getVersion(), "version from kvraft.db: " + e);
    assertEquals(w.lastRevision(), c.status().getRevision());
  }

  @Test
  void compactedFutureAndProgress(@TempDir Path dir) throws Exception {
    var c = single(dir, Map.of("watch.progress.interval.ms", "200"));
    for (int i = 0; i < 20; i++) {
      c.put("c/k", "v" + i);
    }
    c.compact(10);
    var old = new Recorder();
    watch(c, Watch.newBuilder().setKey(utf8("c/k")).setStartRevision(5).build(), old);
    Await.until("the compacted watch to fail", WAIT, () -> old.error.get() != null);
    assertTrue(old.error.get() instanceof CompactedException, old.error.get().toString());
    assertEquals(10, ((CompactedException) old.error.get()).compactRevision());
    assertTrue(old.events.isEmpty());

    long now = c.status().getRevision();
    var future = new Recorder();
    watch(c, Watch.newBuilder().setKey(utf8("c/k")).setStartRevision(now + 3).build(), future);
    var quiet = new Recorder();
    watch(c, Watch.newBuilder().setKey(utf8("c/quiet")).setProgressNotify(true).build(), quiet);
    for (int i = 0; i < 5; i++) {
      c.put("c/k", "f" + i);
    }
    future.awaitEvents(3);
    assertEquals(List.of("PUT c/k=f2 @" + (now + 3), "PUT c/k=f3 @" + (now + 4), "PUT c/k=f4 @" + (now + 5)),
        future.lines());
    Await.until("a progress notification at the latest revision", WAIT, () -> quiet.progress >= now + 5);
    assertTrue(quiet.events.isEmpty());
  }

  @Test
  void aSlowListenerFallsBehindAndStillGetsEveryEventOnce(@TempDir Path dir) throws Exception {
    // A small outbox makes the node's connection fill at once: the watcher falls behind and is caught up.
    var c = single(dir, Map.of("limit.outbox.bytes", "65536"));
    var slow = new Recorder();
    slow.delayMillis = 2;
    watch(c, Watch.newBuilder().setKey(utf8("s/")).setRangeEnd(utf8("s0")).build(), slow);
    Await.until("the watch to be created", WAIT, () -> slow.created);
    var value = "x".repeat(1000);
    var expected = new ArrayList<String>();
    var futures = new ArrayList<java.util.concurrent.CompletableFuture<dev.kvraft.proto.Response>>();
    for (int i = 0; i < 4000; i++) {
      futures.add(c.callAsync(dev.kvraft.proto.Request.newBuilder().setPut(Put.newBuilder()
          .setKey(utf8("s/" + (i % 100))).setValue(utf8(value + i)))));
    }
    for (var f : futures) {
      assertFalse(f.get().hasError(), f.get().toString());
    }
    long last = c.status().getRevision();
    Await.until("every event, slowly", Duration.ofSeconds(90), () -> slow.events.size() >= 4000);
    var revisions = slow.events.stream().map(e -> e.getKv().getModRevision()).toList();
    assertEquals(4000, revisions.size());
    for (int i = 1; i < revisions.size(); i++) {
      assertEquals(revisions.get(i - 1) + 1, revisions.get(i), "no gap, no duplicate at " + i);
    }
    assertEquals(last, revisions.getLast());
  }

  /**
   * A listener that takes its time holds up its own watch only: the client's other calls share the node's connection
   * and still get their answers (the connection's reader used to wait for room in the watch's queue, so a put of the
   * same client timed out, and a listener that called its client could not get an answer). The watch then still
   * delivers every event once, in order.
   */
  @Test
  void aBlockedListenerHoldsUpNoOtherCallOfItsClient(@TempDir Path dir) throws Exception {
    single(dir, Map.of());
    var c = started.closing(KvClient.builder().addresses(Started.address(servers.getFirst()))
        .timeout(Duration.ofSeconds(3)).build());
    var release = new java.util.concurrent.CountDownLatch(1);
    var r = new Recorder();
    var range = Watch.newBuilder().setKey(utf8("b/")).setRangeEnd(utf8("b0")).build();
    started.closing(c.watch(range, new WatchListener() {
      @Override
      public void onEvents(List<Event> batch, long revision) {
        try {
          release.await(); // stuck until the test has written everything
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
        r.onEvents(batch, revision);
      }

      @Override
      public void onProgress(long revision) {
        r.onProgress(revision);
      }

      @Override
      public void onError(KvException e) {
        r.onError(e);
      }
    }));
    Await.until("the watch to be created", WAIT, () -> r.created);
    var expected = new ArrayList<Long>();
    try {
      for (int i = 0; i < 1300; i++) { // more messages than a watch queues (1,024)
        expected.add(c.put(utf8("b/" + (i % 10)), utf8("v" + i)));
      }
    } finally {
      release.countDown();
    }
    r.awaitEvents(1300);
    assertEquals(expected, r.events.stream().map(e -> e.getKv().getModRevision()).toList(),
        "every write once, in order");
  }

  @Test
  void aThousandWatchersOnOneNode(@TempDir Path dir) throws Exception {
    var c = single(dir, Map.of());
    var recorders = new ArrayList<Recorder>();
    for (int i = 0; i < 1000; i++) {
      var r = new Recorder();
      recorders.add(r);
      watch(c, Watch.newBuilder().setKey(utf8("m/" + i)).build(), r);
    }
    var range = new Recorder();
    watch(c, Watch.newBuilder().setKey(utf8("m/")).setRangeEnd(utf8("m0")).build(), range);
    Await.until("1001 watches created", WAIT, () -> recorders.stream().allMatch(r -> r.created)
        && range.created);
    for (int round = 0; round < 2; round++) {
      for (int i = 0; i < 1000; i++) {
        c.callAsync(dev.kvraft.proto.Request.newBuilder().setPut(Put.newBuilder().setKey(utf8("m/" + i))
            .setValue(utf8("r" + round))));
      }
    }
    range.awaitEvents(2000);
    for (int i = 0; i < 1000; i++) {
      var r = recorders.get(i);
      r.awaitEvents(2);
      assertEquals(2, r.events.size());
      assertEquals(List.of("r0", "r1"), r.events.stream().map(e -> e.getKv().getValue().toStringUtf8()).toList());
    }
  }

  @Test
  void aWatchSurvivesTheLossOfItsNode(@TempDir Path dir) throws Exception {
    started.cluster(dir, 3, Map.of());
    var leader = Nodes.awaitLeader(WAIT, servers);
    var follower = servers.stream().filter(s -> s != leader).findFirst().orElseThrow();
    var others = servers.stream().filter(s -> s != follower).map(s -> "127.0.0.1:" + s.clientPort()).toList();
    // The watcher's client starts on the follower; the writer writes through the others.
    var watching = KvClient.builder().addresses("127.0.0.1:" + follower.clientPort()).addresses(others.toArray(
        new String[0])).discoverMembers(false).build();
    started.closing(watching);
    var writer = KvClient.builder().addresses(others.toArray(new String[0])).discoverMembers(false).build();
    started.closing(writer);
    var r = new Recorder();
    watch(watching, Watch.newBuilder().setKey(utf8("f/")).setRangeEnd(utf8("f0")).build(), r);
    Await.until("the watch to be created", WAIT, () -> r.created);
    var expected = new ArrayList<Long>();
    for (int i = 0; i < 200; i++) {
      expected.add(writer.put(utf8("f/" + (i % 7)), utf8("v" + i)));
    }
    r.awaitEvents(100);
    follower.close(); // the node the watch is on goes away mid-stream
    for (int i = 200; i < 400; i++) {
      expected.add(writer.put(utf8("f/" + (i % 7)), utf8("v" + i)));
    }
    r.awaitEvents(400);
    assertEquals(expected, r.events.stream().map(e -> e.getKv().getModRevision()).toList(),
        "every write once, in order, across the node's loss");
  }

  /**
   * A watch whose node falls silent (powered off, cut off without a reset: its socket stays open and nothing comes)
   * resumes on another node from the revision after the last one delivered, with nothing missed or repeated. It used
   * to wait on the silent node forever: a watch sends nothing, so nothing ever timed out. The fake node delivers the
   * first revision (as the real node has it) and then answers nothing, not even the client's members request.
   */
  @Test
  void aWatchOnANodeThatFallsSilentResumesOnAnother(@TempDir Path dir) throws Exception {
    var writer = single(dir, Map.of());
    long first = writer.put("s/a", "1");
    var kv = writer.get("s/a").orElseThrow();
    try (var silent = new FakeNode(r -> r.hasWatch() ? dev.kvraft.proto.Response.newBuilder()
        .setHeader(dev.kvraft.proto.Header.newBuilder().setRevision(first))
        .setWatch(dev.kvraft.proto.WatchResult.newBuilder().addEvents(Event.newBuilder().setType(Event.Type.PUT)
            .setKv(kv))).build() : null)) {
      var c = started.closing(KvClient.builder().addresses(silent.address(), "127.0.0.1:" + servers.get(0).clientPort())
          .discoverMembers(false).watchKeepAlive(Duration.ofMillis(200)).timeout(Duration.ofSeconds(2)).build());
      var r = new Recorder();
      watch(c, Watch.newBuilder().setKey(utf8("s/")).setRangeEnd(utf8("s0")).setStartRevision(first).build(), r);
      r.awaitEvents(1);
      long second = writer.put("s/b", "2");
      long third = writer.put("s/a", "3");
      // Left within 2 x 200 ms of silence, plus a reconnection: 10 s is ample, and far short of forever.
      Await.until("the watch to resume on the live node", Duration.ofSeconds(10), () -> r.events.size() >= 3);
      assertEquals(List.of(first, second, third), r.events.stream().map(e -> e.getKv().getModRevision()).toList(),
          "every revision once, in order, across the silent node");
      assertTrue(silent.received.stream().anyMatch(dev.kvraft.proto.Request::hasMembers),
          "the client asked the silent node for a sign of life first: " + silent.received);
      // The client's calls leave the silent node too: its first address, which they used to connect to again, and
      // wait on until their timeout.
      assertEquals(utf8("3"), c.get("s/a").orElseThrow().getValue());
      assertFalse(silent.received.stream().anyMatch(dev.kvraft.proto.Request::hasGet), silent.received.toString());
    }
  }

  /**
   * Every watch of KvClient asks for {@code require_leader}, and a node that ends it for want of a leader (a cancel
   * with {@code cancel_code} UNAVAILABLE, what a node cut off from the majority sends) makes it resume on the next
   * node from where it was: every revision once, in order, and the watch goes on. The fake node answers the watch
   * with that cancel, as a cut-off node does once its bound has passed.
   */
  @Test
  void aWatchEndedForWantOfALeaderResumesOnTheNextNode(@TempDir Path dir) throws Exception {
    var writer = single(dir, Map.of());
    long first = writer.put("l/a", "1");
    long second = writer.put("l/b", "2");
    try (var cutOff = new FakeNode(r -> r.hasWatch() ? dev.kvraft.proto.Response.newBuilder()
        .setHeader(dev.kvraft.proto.Header.newBuilder().setRevision(first - 1))
        .setWatch(dev.kvraft.proto.WatchResult.newBuilder().setCanceled(true)
            .setCancelCode(dev.kvraft.proto.Error.Code.UNAVAILABLE)
            .setCancelReason("node f has known no leader for 3001 ms (the bound is 3000 ms): it may be cut off from"
                + " the majority; watch again on another node from revision " + first)).build() : null)) {
      var c = started.closing(KvClient.builder().addresses(cutOff.address(), "127.0.0.1:" + servers.get(0).clientPort())
          .discoverMembers(false).timeout(Duration.ofSeconds(2)).build());
      var r = new Recorder();
      // No require_leader asked for here: the client sets it on every watch.
      var w = watch(c, Watch.newBuilder().setKey(utf8("l/")).setRangeEnd(utf8("l0")).setStartRevision(first).build(),
          r);
      r.awaitEvents(2);
      long third = writer.put("l/a", "3");
      r.awaitEvents(3);
      assertEquals(List.of(first, second, third), r.events.stream().map(e -> e.getKv().getModRevision()).toList(),
          "every revision once, in order, across the node without a leader");
      var asked = cutOff.received.stream().filter(dev.kvraft.proto.Request::hasWatch).toList();
      assertEquals(1, asked.size(), "one watch sent to the node without a leader: " + cutOff.received);
      assertTrue(asked.getFirst().getWatch().getRequireLeader(), "KvClient asks for require_leader: " + asked);
      assertTrue(w.isOpen(), "the watch goes on");
      assertEquals(null, r.error.get());
    }
  }

  /**
   * A quiet node that answers the client's members request keeps its watches: nothing is reopened, however long no
   * event comes (the fake node sends one event, then answers only members requests).
   */
  @Test
  void aQuietNodeThatAnswersKeepsItsWatch() throws Exception {
    var kv = dev.kvraft.proto.KeyValue.newBuilder().setKey(utf8("q/a")).setModRevision(5).setCreateRevision(5)
        .setVersion(1).build();
    try (var quiet = new FakeNode(r -> r.hasWatch() ? dev.kvraft.proto.Response.newBuilder()
        .setHeader(dev.kvraft.proto.Header.newBuilder().setRevision(5))
        .setWatch(dev.kvraft.proto.WatchResult.newBuilder().addEvents(Event.newBuilder().setType(Event.Type.PUT)
            .setKv(kv))).build()
        : r.hasMembers() ? dev.kvraft.proto.Response.newBuilder()
            .setMembers(dev.kvraft.proto.MembersResult.getDefaultInstance()).build() : null)) {
      var c = started.closing(KvClient.builder().addresses(quiet.address()).discoverMembers(false)
          .watchKeepAlive(Duration.ofMillis(100)).build());
      var r = new Recorder();
      var w = watch(c, Watch.newBuilder().setKey(utf8("q/")).setRangeEnd(utf8("q0")).setStartRevision(5).build(), r);
      r.awaitEvents(1);
      Await.until("five members requests", WAIT,
          () -> quiet.received.stream().filter(dev.kvraft.proto.Request::hasMembers).count() >= 5);
      assertEquals(1, quiet.received.stream().filter(dev.kvraft.proto.Request::hasWatch).count(),
          "the watch stayed where it was: " + quiet.received);
      assertTrue(w.isOpen());
      assertEquals(1, r.events.size());
    }
  }

  /**
   * close() cuts a backoff short: a node that ends every watch for want of a leader has the watcher reopening it
   * after a backoff that doubles to 2 s, and close() during that backoff used to sleep it out before returning.
   */
  @Test
  void closeDuringABackoffReturnsAtOnce() throws Exception {
    try (var cutOff = new FakeNode(r -> r.hasWatch() ? dev.kvraft.proto.Response.newBuilder()
        .setWatch(dev.kvraft.proto.WatchResult.newBuilder().setCanceled(true)
            .setCancelCode(dev.kvraft.proto.Error.Code.UNAVAILABLE).setCancelReason("no leader")).build() : null)) {
      var c = started.closing(KvClient.builder().addresses(cutOff.address()).discoverMembers(false).build());
      var r = new Recorder();
      var w = watch(c, Watch.newBuilder().setKey(utf8("b/")).setRangeEnd(utf8("b0")).setStartRevision(1).build(), r);
      // The sixth ending backs off the longest, 2 s, right after cancelling the watch it ended: close while in it.
      Await.until("six watches ended and cancelled", WAIT,
          () -> cutOff.received.stream().filter(dev.kvraft.proto.Request::hasCancelWatch).count() >= 6);
      var took = closing(w);
      assertTrue(took.compareTo(Duration.ofSeconds(1)) < 0, "close() took " + took + " (the backoff is 2 s)");
      assertFalse(w.isOpen());
      assertEquals(null, r.error.get(), "a closed watch tells the listener nothing");
    }
  }

  /**
   * Closing the client ends a watch that is backing off at once, with onError, as it wakes its keep-alives: the
   * watch used to sleep its backoff (up to 2 s) out first.
   */
  @Test
  void closingTheClientEndsAWatchBackingOffAtOnce() throws Exception {
    try (var cutOff = new FakeNode(r -> r.hasWatch() ? dev.kvraft.proto.Response.newBuilder()
        .setWatch(dev.kvraft.proto.WatchResult.newBuilder().setCanceled(true)
            .setCancelCode(dev.kvraft.proto.Error.Code.UNAVAILABLE).setCancelReason("no leader")).build() : null)) {
      var c = started.closing(KvClient.builder().addresses(cutOff.address()).discoverMembers(false).build());
      var r = new Recorder();
      var w = watch(c, Watch.newBuilder().setKey(utf8("e/")).setRangeEnd(utf8("e0")).setStartRevision(1).build(), r);
      Await.until("six watches ended and cancelled", WAIT,
          () -> cutOff.received.stream().filter(dev.kvraft.proto.Request::hasCancelWatch).count() >= 6);
      long start = System.nanoTime();
      c.close();
      Await.until("the watch to end", WAIT, () -> !w.isOpen());
      var took = Duration.ofNanos(System.nanoTime() - start);
      assertTrue(took.compareTo(Duration.ofSeconds(1)) < 0, "the watch ended " + took + " after its client closed"
          + " (the backoff is 2 s)");
      assertTrue(r.error.get() instanceof UnavailableException && r.error.get().getMessage().contains("closed"),
          String.valueOf(r.error.get()));
    }
  }

  /**
   * close() cuts short the opening of a watch's connection: here its node accepts TCP and never answers the login,
   * which the client allows 10 s, and close() used to wait 5 s for the watch's thread before giving up on it.
   */
  @Test
  void closeWhileTheWatchIsConnectingReturnsAtOnce() throws Exception {
    try (var node = new FakeNode(r -> null)) {
      var c = started.closing(KvClient.builder().addresses(node.address()).discoverMembers(false)
          .credentials("u", "p").build());
      var r = new Recorder();
      var w = watch(c, Watch.newBuilder().setKey(utf8("c/")).setRangeEnd(utf8("c0")).build(), r);
      Await.until("the watch's login to be sent", WAIT,
          () -> node.received.stream().anyMatch(dev.kvraft.proto.Request::hasAuthenticate));
      var took = closing(w);
      assertTrue(took.compareTo(Duration.ofSeconds(2)) < 0, "close() took " + took + " (a login may take 10 s)");
      assertFalse(w.isOpen());
      assertEquals(null, r.error.get(), "a closed watch tells the listener nothing");
      assertFalse(node.received.stream().anyMatch(dev.kvraft.proto.Request::hasWatch), node.received.toString());
    }
  }

  /** How long {@code w.close()} took. */
  private static Duration closing(Watcher w) {
    long start = System.nanoTime();
    w.close();
    return Duration.ofNanos(System.nanoTime() - start);
  }

  static ByteString b(String s) {
    return utf8(s);
  }
}
