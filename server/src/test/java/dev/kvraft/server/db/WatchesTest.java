package dev.kvraft.server.db;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.kvraft.proto.CancelWatch;
import dev.kvraft.proto.Put;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import dev.kvraft.proto.Watch;
import dev.kvraft.proto.WriteOp;
import dev.kvraft.storage.EntryKind;
import dev.kvraft.storage.HistoryReader;
import dev.kvraft.storage.LogMirror;
import dev.kvraft.storage.OpKind;
import dev.kvraft.storage.OpOutcome;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@link Watches} driven directly, the test standing in for the loop thread (it runs the loop's tasks itself). */
@Timeout(30)
class WatchesTest {
  private final KvState state = new KvState(1 << 20);
  private final LinkedBlockingQueue<Event> loop = new LinkedBlockingQueue<>();
  /** What Raft says: whether this node knows a leader. */
  private final AtomicBoolean leader = new AtomicBoolean(true);
  private static final Duration NO_LEADER_BOUND = Duration.ofSeconds(3);
  private final Watches watches = new Watches("n1", state, new Replies("n1", state), () -> 0, loop::add,
      Duration.ofSeconds(10), new LeaderAbsence("n1", leader::get, NO_LEADER_BOUND));
  private final OpApplier apply = watches.around(OpApplier.of(state));
  private final Sink sink = new Sink();

  /** The counts as the metrics thread reads them. */
  private WatchStats stats() {
    return watches.counts().stats();
  }

  /**
   * A connection that has room, recording what it is sent; told to ({@link #refuse}), its next few {@link #offer}s
   * for one watch find it full, and it records those in {@link #refused}.
   */
  static class Sink implements WatchSink {
    final List<Response> got = new CopyOnWriteArrayList<>();
    final List<Response> refused = new CopyOnWriteArrayList<>();
    private long refuseId;
    private int refusals;
    /** Closed by the node: the client sees its connection end (and resumes its watches elsewhere). */
    volatile boolean closed;

    /** The next {@code times} offers of a message for watch {@code id} are refused (the loop's thread only). */
    void refuse(long id, int times) {
      refuseId = id;
      refusals = times;
    }

    @Override public void reply(Response response) { got.add(response); }
    @Override public boolean offer(Response message) {
      if (refusals > 0 && message.getId() == refuseId) {
        refusals--;
        refused.add(message);
        return false;
      }
      got.add(message);
      return true;
    }
    @Override public void send() { }
    @Override public boolean put(Response message) { got.add(message); return true; }
    @Override public boolean awaitRoom() { return true; }
    @Override public boolean isOpen() { return !closed; }
    @Override public void close() { closed = true; }
    @Override public void watching(int delta) { }
    @Override public String peer() { return "test"; }

    List<Response> eventsOf(long id) {
      return got.stream().filter(r -> r.getId() == id && r.getWatch().getEventsCount() > 0).toList();
    }
  }

  private void put(String key, String value) {
    apply.apply(WriteOp.newBuilder().setPut(Put.newBuilder().setKey(ByteString.copyFromUtf8(key))
        .setValue(ByteString.copyFromUtf8(value))).build(), KvState.OpListener.NONE);
    watches.flush();
  }

  private Event.Command command(Request r) {
    return new Event.Command(r, sink, System.nanoTime() + TimeUnit.SECONDS.toNanos(5),
        RequestTrace.receivedNow("test"));
  }

  private void open(long id, long start) {
    watches.open(command(Request.newBuilder().setId(id).setWatch(Watch.newBuilder()
        .setKey(ByteString.copyFromUtf8("k")).setStartRevision(start)).build()));
  }

  private void open(long id, boolean requireLeader) {
    watches.open(command(Request.newBuilder().setId(id).setWatch(Watch.newBuilder()
        .setKey(ByteString.copyFromUtf8("k")).setRequireLeader(requireLeader)).build()));
  }

  private List<Response> cancelsOf(long id) {
    return sink.got.stream().filter(r -> r.getId() == id && r.getWatch().getCanceled()).toList();
  }

  /**
   * {@code require_leader} (etcd's WithRequireLeader): a watch that asked for it ends, with a cancel naming why, once
   * the node has known no leader for longer than the bound, and not a tick before; one without the flag stays open
   * and gets every later event; while a leader is known, or when one comes back within the bound, nothing ends. The
   * clock is the test's: each tick is handed its time.
   */
  @Test
  void aRequireLeaderWatchEndsOnlyOnceNoLeaderWasKnownForTheBound() {
    long t = System.nanoTime();
    open(1, true);
    open(2, false);
    watches.tick(t);
    watches.tick(t + TimeUnit.SECONDS.toNanos(60)); // a leader known all along: a minute changes nothing
    put("k", "1");

    // The leader is lost, and found again just before the bound: nothing ends, and the count starts again.
    leader.set(false);
    long lost = t + TimeUnit.SECONDS.toNanos(61);
    watches.tick(lost);
    watches.tick(lost + NO_LEADER_BOUND.toNanos() - 1);
    leader.set(true);
    watches.tick(lost + NO_LEADER_BOUND.toNanos() + 1);
    assertTrue(cancelsOf(1).isEmpty(), "a leader came back within the bound: nothing was cancelled: " + sink.got);

    // Lost again: exactly at the bound the watch still stays; past it, it ends.
    leader.set(false);
    long lostAgain = lost + TimeUnit.SECONDS.toNanos(10);
    watches.tick(lostAgain);
    put("k", "2");
    watches.tick(lostAgain + NO_LEADER_BOUND.toNanos());
    assertTrue(cancelsOf(1).isEmpty(), "not cancelled at the bound itself: " + sink.got);
    watches.tick(lostAgain + NO_LEADER_BOUND.toNanos() + TimeUnit.MILLISECONDS.toNanos(1));

    var cancels = cancelsOf(1);
    assertEquals(1, cancels.size(), "the require_leader watch was cancelled once: " + sink.got);
    var cancel = cancels.getFirst().getWatch();
    assertEquals(dev.kvraft.proto.Error.Code.UNAVAILABLE, cancel.getCancelCode());
    assertEquals(0, cancel.getCompactRevision(), "nothing is compacted: another node can serve it");
    assertTrue(cancel.getCancelReason().startsWith("node n1 has known no leader for 3001 ms (the bound is 3000 ms):"
        + " it may be cut off from the majority; watch again on another node from revision 3"),
        cancel.getCancelReason());
    assertEquals(List.of(1L, 2L), sink.eventsOf(1).stream().map(r -> r.getHeader().getRevision()).toList(),
        "every revision before the cancel came first");
    assertTrue(cancelsOf(2).isEmpty(), "a watch without require_leader stays open: " + sink.got);

    // The cancelled watch gets nothing more; the other one does.
    put("k", "3");
    watches.tick(lostAgain + NO_LEADER_BOUND.toNanos() + TimeUnit.SECONDS.toNanos(1));
    assertEquals(List.of(1L, 2L), sink.eventsOf(1).stream().map(r -> r.getHeader().getRevision()).toList());
    assertEquals(List.of(1L, 2L, 3L), sink.eventsOf(2).stream().map(r -> r.getHeader().getRevision()).toList());
    assertEquals(1, cancelsOf(1).size(), "cancelled only once");

    // While the node still knows no leader, a new require_leader watch is refused at once; one without opens.
    open(3, true);
    var refused = sink.got.stream().filter(r -> r.getId() == 3).toList();
    assertEquals(1, refused.size(), "one answer: " + refused);
    assertEquals(dev.kvraft.proto.Error.Code.UNAVAILABLE, refused.getFirst().getError().getCode());
    assertTrue(refused.getFirst().getError().getMessage().contains("has known no leader for"),
        refused.getFirst().getError().getMessage());
    open(4, false);
    assertTrue(sink.got.stream().anyMatch(r -> r.getId() == 4 && r.getWatch().getCreated()));

    // A leader again: a require_leader watch opens and stays.
    leader.set(true);
    watches.tick(lostAgain + TimeUnit.SECONDS.toNanos(20));
    open(5, true);
    watches.tick(lostAgain + TimeUnit.SECONDS.toNanos(60));
    assertTrue(sink.got.stream().anyMatch(r -> r.getId() == 5 && r.getWatch().getCreated()));
    assertTrue(cancelsOf(5).isEmpty());
    assertFalse(sink.got.stream().anyMatch(r -> r.getId() == 5 && r.hasError()));
  }

  private List<Long> eventRevisionsOf(long id) {
    return sink.eventsOf(id).stream().map(r -> r.getHeader().getRevision()).toList();
  }

  /**
   * A {@code require_leader} watch whose connection has no room for the cancel on the first tick past the bound is
   * not ended then (ended untold, its client would wait on it for nothing): it stays open, still gets events, and
   * the next tick that finds room ends it with the cancel, once.
   */
  @Test
  void aRequireLeaderCancelTheConnectionHasNoRoomForIsSentOnALaterTick() {
    long t = System.nanoTime();
    open(1, true);
    watches.tick(t);
    put("k", "1");
    leader.set(false);
    long lost = t + TimeUnit.SECONDS.toNanos(1);
    watches.tick(lost);

    // Past the bound, but the connection is full: the cancel is refused, and the watch stays.
    sink.refuse(1, 1);
    watches.tick(lost + NO_LEADER_BOUND.toNanos() + TimeUnit.MILLISECONDS.toNanos(1));
    assertEquals(1, sink.refused.size(), "the cancel was offered, and refused: " + sink.refused);
    assertTrue(sink.refused.getFirst().getWatch().getCanceled(), "what was refused is the cancel: " + sink.refused);
    assertTrue(cancelsOf(1).isEmpty(), "no cancel reached the client: " + sink.got);
    put("k", "2");
    assertEquals(List.of(1L, 2L), eventRevisionsOf(1), "the watch is still open: it got revision 2");

    // The next tick finds room: the watch ends with the cancel, resuming after what it got.
    watches.tick(lost + NO_LEADER_BOUND.toNanos() + TimeUnit.MILLISECONDS.toNanos(2));
    var cancels = cancelsOf(1);
    assertEquals(1, cancels.size(), "the cancel was sent on the next tick: " + sink.got);
    assertEquals(dev.kvraft.proto.Error.Code.UNAVAILABLE, cancels.getFirst().getWatch().getCancelCode());
    assertTrue(cancels.getFirst().getWatch().getCancelReason().endsWith("watch again on another node from revision 3"),
        cancels.getFirst().getWatch().getCancelReason());

    put("k", "3");
    watches.tick(lost + NO_LEADER_BOUND.toNanos() + TimeUnit.SECONDS.toNanos(1));
    assertEquals(List.of(1L, 2L), eventRevisionsOf(1), "nothing after the cancel: " + sink.got);
    assertEquals(1, cancelsOf(1).size(), "cancelled only once: " + sink.got);
  }

  @TempDir
  Path dir;

  /** Revision 1, a put of k, recorded in kvraft.db as the node's mirror would: what a catch-up reads back. */
  private static void recordPutOfKAtRevisionOne(LogMirror mirror) throws Exception {
    mirror.entry(1, 1, EntryKind.NORMAL, "n1@x", 1, "put k", null);
    mirror.op(1, 0, OpKind.PUT, "k".getBytes(StandardCharsets.UTF_8), "1".getBytes(StandardCharsets.UTF_8), 1,
        OpOutcome.CREATED, 1, 1);
    mirror.commit();
  }

  /**
   * A {@code require_leader} watch that is behind (its connection was full, so a catch-up serves it from kvraft.db)
   * when the bound passes is left to its catch-up, not cancelled under it, while a live one is cancelled on that
   * tick; once the catch-up hands it back to the loop, the next tick cancels it, after every revision it was owed.
   */
  @Test
  void aBehindRequireLeaderWatchIsCancelledOnlyOnceItsCatchUpHandsItBack() throws Exception {
    var file = dir.resolve("kvraft.db");
    try (var mirror = LogMirror.open(file)) {
      watches.history(() -> HistoryReader.open(file));
      long t = System.nanoTime();
      open(1, true);
      open(2, true);
      watches.tick(t);

      // Revision 1, recorded in kvraft.db as the node's mirror would; watch 1's connection is full for it, so it
      // falls behind and a catch-up serves it.
      recordPutOfKAtRevisionOne(mirror);
      sink.refuse(1, 1);
      put("k", "1");
      assertEquals(1, sink.refused.size(), "watch 1's revision 1 found no room: " + sink.refused);
      assertEquals(List.of(1L), eventRevisionsOf(2), "watch 2 stays live: " + sink.got);

      // The catch-up reached the end of kvraft.db and asks the loop to take the watch back; the loop has not yet.
      var handBack = loop.poll(10, TimeUnit.SECONDS);
      assertTrue(handBack instanceof Event.Task, "the catch-up asked the loop to take its watch back: " + handBack);
      assertTrue(cancelsOf(1).isEmpty(), "the catch-up did not cancel it: " + sink.got);
      assertEquals(List.of(1L), eventRevisionsOf(1), "the catch-up sent revision 1: " + sink.got);

      // Past the bound while watch 1 is behind: the live watch 2 is cancelled, watch 1 is not.
      leader.set(false);
      long lost = t + TimeUnit.SECONDS.toNanos(1);
      watches.tick(lost);
      watches.tick(lost + NO_LEADER_BOUND.toNanos() + TimeUnit.MILLISECONDS.toNanos(1));
      assertEquals(1, cancelsOf(2).size(), "the bound has passed: the live watch 2 was cancelled: " + sink.got);
      assertTrue(cancelsOf(1).isEmpty(), "watch 1 is behind: not cancelled under its catch-up: " + sink.got);

      // The loop takes it back; the next tick cancels it, resuming after revision 1.
      ((Event.Task) handBack).task().run();
      assertTrue(cancelsOf(1).isEmpty(), "taking it back cancels nothing by itself: " + sink.got);
      watches.tick(lost + NO_LEADER_BOUND.toNanos() + TimeUnit.MILLISECONDS.toNanos(2));
      var cancels = cancelsOf(1);
      assertEquals(1, cancels.size(), "live again, watch 1 was cancelled on the next tick: " + sink.got);
      assertEquals(dev.kvraft.proto.Error.Code.UNAVAILABLE, cancels.getFirst().getWatch().getCancelCode());
      assertTrue(cancels.getFirst().getWatch().getCancelReason().endsWith(
          "watch again on another node from revision 2"), cancels.getFirst().getWatch().getCancelReason());
      assertEquals(List.of(1L), eventRevisionsOf(1), "revision 1 once, before the cancel: " + sink.got);
      assertTrue(loop.isEmpty(), "nothing else was asked of the loop: " + loop);
    }
  }

  /**
   * Watches from the past each start a catch-up, and each catch-up holds kvraft.db open (a SQLite connection: file
   * descriptors) until it is done: at most {@link WatchCatchUp#OPEN_AT_ONCE} do at a time, at most
   * {@link WatchCatchUp#OPEN_PER_CONNECTION} of one connection's, the others waiting their turn, and every one gets
   * it. Found by review: one catch-up per watch opened the file at once, up to {@code limit.watches} connections,
   * past the descriptors Raft's log needs; then one slow client could hold every turn.
   */
  @Test
  void catchUpsTakeTurnsToHoldKvraftDbOpenNodeWideAndPerConnection() throws Exception {
    var opened = new java.util.concurrent.atomic.AtomicInteger();
    historyHeldOpen(opened::incrementAndGet);
    // One greedy connection with 10 watches from the past, then 12 connections with 3 each: 46 catch-ups.
    var sinks = new ArrayList<Sink>();
    for (int i = 0; i < 13; i++) {
      sinks.add(new Sink());
    }
    long id = 1;
    for (int n = 0; n < 10; n++) {
      openOn(sinks.get(0), id++, 1); // from revision 1: behind, served by a catch-up
    }
    for (int s = 1; s < sinks.size(); s++) {
      for (int n = 0; n < 3; n++) {
        openOn(sinks.get(s), id++, 1);
      }
    }
    int catchUps = (int) id - 1;
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    int waiting = 0;
    while ((opened.get() < WatchCatchUp.OPEN_AT_ONCE || waiting < catchUps - opened.get())
        && System.nanoTime() < deadline) {
      Thread.sleep(5); // a poll with a deadline: the catch-ups run on threads of their own
      waiting = watches.catchUps().waiting();
    }
    assertEquals(WatchCatchUp.OPEN_AT_ONCE, opened.get(), "catch-ups with kvraft.db open at once");
    assertEquals(catchUps - WatchCatchUp.OPEN_AT_ONCE, waiting, "the others wait their turn");
    heldOpen.countDown();
    while (opened.get() < catchUps && System.nanoTime() < deadline) {
      Thread.sleep(5);
    }
    assertEquals(catchUps, opened.get(), "every catch-up got its turn");
  }

  /** The greedy connection's fifth catch-up waits while another connection's first one runs. */
  @Test
  void oneConnectionHoldsAtMostFourCatchUpTurns() throws Exception {
    var openedBy = new java.util.concurrent.ConcurrentHashMap<String, Integer>();
    historyHeldOpen(() -> openedBy.merge(
        Thread.currentThread().getName().startsWith("kvraft-watch-catchup-9") ? "other" : "greedy", 1, Integer::sum));
    var greedy = new Sink();
    for (long id = 1; id <= 8; id++) {
      openOn(greedy, id, 1);
    }
    openOn(new Sink(), 9, 1);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    int waiting = 0;
    while ((openedBy.getOrDefault("greedy", 0) < WatchCatchUp.OPEN_PER_CONNECTION
        || openedBy.getOrDefault("other", 0) < 1 || waiting < 4) && System.nanoTime() < deadline) {
      Thread.sleep(5);
      waiting = watches.catchUps().waiting();
    }
    assertEquals(WatchCatchUp.OPEN_PER_CONNECTION, openedBy.getOrDefault("greedy", 0), openedBy.toString());
    assertEquals(1, openedBy.getOrDefault("other", 0), "the other connection's catch-up is not behind them");
    assertEquals(4, waiting, "the greedy connection's other four wait");
    heldOpen.countDown();
  }

  /**
   * Found by review: a catch-up waiting for its turn went on waiting (a thread, and its connection's memory) after
   * its connection closed. Now one waiting for its turn has no thread yet, and is dropped when its turn comes.
   */
  @Test
  void aCatchUpWaitingForItsTurnStopsWhenItsConnectionCloses() throws Exception {
    var opened = new java.util.concurrent.atomic.AtomicInteger();
    historyHeldOpen(opened::incrementAndGet);
    var greedy = new Sink();
    for (long id = 1; id <= WatchCatchUp.OPEN_PER_CONNECTION + 2; id++) {
      openOn(greedy, id, 1);
    }
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    int waiting = 0;
    while (waiting < 2 && System.nanoTime() < deadline) {
      Thread.sleep(5);
      waiting = watches.catchUps().waiting();
    }
    assertEquals(2, waiting, "two wait for the connection's turns");
    greedy.closed = true; // the client went away, and the loop learns it
    watches.closed(greedy);
    assertEquals(0, watches.catchUps().waiting(), "the two waiting go at once, while the four still run");
    heldOpen.countDown(); // the four running end
    while (watches.catchUps().runningOrWaiting(greedy) > 0 && System.nanoTime() < deadline) {
      Thread.sleep(5);
    }
    assertEquals(0, watches.catchUps().runningOrWaiting(greedy), "no catch-up is left for a closed connection");
    assertEquals(WatchCatchUp.OPEN_PER_CONNECTION, opened.get(), "the two waiting were never started");
  }

  /** Lets the catch-ups that {@link #historyHeldOpen} holds go on; also after each test, whatever it asserted. */
  private final java.util.concurrent.CountDownLatch heldOpen = new java.util.concurrent.CountDownLatch(1);

  @org.junit.jupiter.api.AfterEach
  void letHeldCatchUpsGo() {
    heldOpen.countDown();
  }

  /**
   * kvraft.db as the catch-ups find it here: each open runs {@code onOpen} on the catch-up's thread, then holds the
   * file until {@link #heldOpen} counts down, then finds no history kept (the catch-up cancels its watch). Revisions
   * 1 and 2 are applied, so a watch from revision 1 is behind and starts a catch-up.
   */
  private void historyHeldOpen(Runnable onOpen) {
    watches.history(() -> {
      onOpen.run();
      try {
        heldOpen.await();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      return null;
    });
    put("k", "1");
    put("k", "2");
  }

  private void openOn(Sink on, long id, long start) {
    watches.open(new Event.Command(Request.newBuilder().setId(id).setWatch(Watch.newBuilder()
        .setKey(ByteString.copyFromUtf8("k")).setStartRevision(start)).build(), on,
        System.nanoTime() + TimeUnit.SECONDS.toNanos(5), RequestTrace.receivedNow("test")));
  }

  @Test
  void aSnapshotInstallWithNoRoomForItsCancelClosesTheConnection() {
    open(1, 0);
    put("k", "1");
    assertEquals(List.of(1L), eventRevisionsOf(1));
    sink.refuse(1, 1);
    watches.installed(5);
    assertEquals(1, sink.refused.size(), "the cancel found no room: " + sink.refused);
    assertTrue(sink.refused.getFirst().getWatch().getCanceled(), sink.refused.toString());
    assertTrue(sink.closed, "the connection is closed, so the client knows its watch ended");
  }

  @Test
  void aSnapshotInstallTellsALiveWatchItEndedAndLeavesTheConnectionOpen() {
    open(1, 0);
    put("k", "1");
    watches.installed(5);
    assertEquals(1, cancelsOf(1).size(), "cancelled: " + sink.got);
    assertFalse(sink.closed, "room for the cancel: the connection stays");
  }

  /** Found by review: a catch-up that died of an unexpected exception left its watch registered and silent. */
  @Test
  void aCatchUpThatFailsUnexpectedlyCancelsItsWatchAndSaysWhy() throws Exception {
    watches.history(() -> {
      throw new IllegalStateException("a bug in reading history");
    });
    put("k", "1");
    put("k", "2");
    open(5, 1); // from revision 1: behind, served by a catch-up
    var endTask = loop.poll(10, TimeUnit.SECONDS);
    assertNotNull(endTask, "the catch-up asked the loop to end its watch");
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (cancelsOf(5).isEmpty() && System.nanoTime() < deadline) {
      Thread.sleep(5); // a poll with a deadline: the cancel is sent on the catch-up's thread
    }
    var cancels = cancelsOf(5);
    assertEquals(1, cancels.size(), "cancelled once: " + sink.got);
    assertTrue(cancels.getFirst().getWatch().getCancelReason().contains("could not read its history"),
        cancels.getFirst().getWatch().getCancelReason());
    assertFalse(cancels.getFirst().getWatch().getCancelReason().contains("a bug in reading history"),
        "the cause goes to the node's log, not to the client");
  }

  @Test
  void aCatchUpThatEndsItsWatchLateLeavesANewWatchOfTheSameIdAlone() throws Exception {
    put("k", "1");
    put("k", "2");
    // From revision 1 the watch starts behind; this node keeps no history, so its catch-up cancels it: it asks the
    // loop to end the watch. That task waits in the loop's queue while the client cancels the watch itself and opens
    // a new one under the same id (the old one is gone, so the id is free again).
    open(5, 1);
    var endTask = loop.poll(10, TimeUnit.SECONDS);
    assertNotNull(endTask, "the catch-up asked the loop to end its watch");
    watches.cancel(command(Request.newBuilder().setId(6).setCancelWatch(CancelWatch.newBuilder().setWatchId(5))
        .build()));
    open(5, 0);
    ((Event.Task) endTask).task().run();

    put("k", "3");
    var events = sink.eventsOf(5);
    assertEquals(1, events.size(), "the new watch 5 is still open and got the put: " + sink.got);
    assertEquals(3, events.getFirst().getWatch().getEvents(0).getKv().getModRevision());
    assertTrue(loop.isEmpty(), "nothing else was asked of the loop: " + loop);
  }

  /**
   * A catch-up that cannot serve its watch (no history this far back) ends it and tells the client why. The loop
   * may run the end before the catch-up thread sends the reason (a quick loop: here it runs the task at once): the
   * client must still get the cancellation, or its watch goes silent and it never resumes it.
   */
  @Test
  void aWatchEndedByItsCatchUpIsToldWhyEvenWhenTheLoopIsQuick() throws Exception {
    var quick = new Watches("n1", state, new Replies("n1", state), () -> 0, e -> {
      if (e instanceof Event.Task t) {
        t.task().run(); // the loop runs it before the catch-up thread goes on
      } else {
        loop.add(e);
      }
    }, Duration.ofSeconds(10), new LeaderAbsence("n1", () -> true, NO_LEADER_BOUND));
    var quickApply = quick.around(OpApplier.of(state));
    for (var v : List.of("1", "2")) {
      quickApply.apply(WriteOp.newBuilder().setPut(Put.newBuilder().setKey(ByteString.copyFromUtf8("k"))
          .setValue(ByteString.copyFromUtf8(v))).build(), KvState.OpListener.NONE);
      quick.flush();
    }
    quick.open(command(Request.newBuilder().setId(5).setWatch(Watch.newBuilder()
        .setKey(ByteString.copyFromUtf8("k")).setStartRevision(1)).build()));
    long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (System.nanoTime() < until
        && sink.got.stream().noneMatch(r -> r.getId() == 5 && r.getWatch().getCanceled())) {
      Thread.sleep(10);
    }
    assertTrue(sink.got.stream().anyMatch(r -> r.getId() == 5 && r.getWatch().getCanceled()),
        "the client was told its watch was cancelled: " + sink.got);
  }

  /**
   * What the metrics read follows the watches: {@code kvraft_watches_open}, {@code kvraft_watches_catching_up} while
   * a watch is served from kvraft.db, {@code kvraft_watch_events_sent} for live events and those from history, and
   * {@code kvraft_watches_ended_by_node} for a watch the node ended, not for one its client cancelled or whose
   * connection closed.
   */
  @Test
  void theMetricsFollowWatchesThroughACatchUpAndTheirEnds() throws Exception {
    var file = dir.resolve("kvraft.db");
    try (var mirror = LogMirror.open(file)) {
      watches.history(() -> HistoryReader.open(file));
      long t = System.nanoTime();
      open(1, true);
      open(2, false);
      watches.tick(t);
      assertEquals(2, stats().open());
      assertEquals(0, stats().catchingUp(), "both live from the start");

      recordPutOfKAtRevisionOne(mirror);
      sink.refuse(1, 1);
      put("k", "1");
      assertEquals(1, stats().catchingUp(), "watch 1 found no room and is served from kvraft.db");

      var handBack = loop.poll(10, TimeUnit.SECONDS);
      assertTrue(handBack instanceof Event.Task, "the catch-up hands its watch back: " + handBack);
      assertEquals(2, stats().eventsSent(), "the catch-up sent watch 1's event from kvraft.db");
      ((Event.Task) handBack).task().run();
      assertEquals(0, stats().catchingUp(), "watch 1 is live again");
      assertEquals(2, stats().open());
      put("k", "2");
      assertEquals(4, stats().eventsSent(), "both live watches got revision 2");

      // The node ends watch 1 (require_leader, no leader past the bound); watch 2 stays.
      leader.set(false);
      long lost = t + TimeUnit.SECONDS.toNanos(1);
      watches.tick(lost);
      watches.tick(lost + NO_LEADER_BOUND.toNanos() + TimeUnit.MILLISECONDS.toNanos(1));
      assertEquals(1, cancelsOf(1).size(), "watch 1 was ended: " + sink.got);
      assertEquals(1, stats().endedByNode());
      assertEquals(1, stats().open());

      // The client cancels watch 2; watch 3's connection closes: neither is the node's doing.
      watches.cancel(command(Request.newBuilder().setId(10).setCancelWatch(CancelWatch.newBuilder().setWatchId(2))
          .build()));
      open(3, false);
      assertEquals(1, stats().open());
      watches.closed(sink);
      assertEquals(0, stats().open());
      assertEquals(0, stats().catchingUp());
      assertEquals(1, stats().endedByNode(), "only watch 1 was ended by the node");
    }
  }

  /** A watch cancelled while a catch-up serves it leaves the counts at zero, also once the catch-up hands it back. */
  @Test
  void aWatchCancelledWhileCatchingUpIsCountedOutOnce() throws Exception {
    var file = dir.resolve("kvraft.db");
    try (var mirror = LogMirror.open(file)) {
      watches.history(() -> HistoryReader.open(file));
      open(1, false);
      recordPutOfKAtRevisionOne(mirror);
      sink.refuse(1, 1);
      put("k", "1");
      assertEquals(1, stats().catchingUp(), "behind: a catch-up serves it");
      watches.cancel(command(Request.newBuilder().setId(10).setCancelWatch(CancelWatch.newBuilder().setWatchId(1))
          .build()));
      assertEquals(0, stats().open());
      assertEquals(0, stats().catchingUp(), "the cancelled watch no longer counts as catching up");
      // The catch-up ends (its watch ended) or hands the watch back, which the loop then ignores.
      var handBack = loop.poll(2, TimeUnit.SECONDS);
      if (handBack instanceof Event.Task t) {
        t.task().run();
      }
      assertEquals(0, stats().open());
      assertEquals(0, stats().catchingUp(), "not counted again when its catch-up is done");
    }
  }
}
