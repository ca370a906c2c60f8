package dev.kvraft.server.db;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.kvraft.proto.CancelWatch;
import dev.kvraft.proto.Put;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import dev.kvraft.proto.Watch;
import dev.kvraft.proto.WriteOp;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** {@link Watches} driven directly, the test standing in for the loop thread (it runs the loop's tasks itself). */
@Timeout(30)
class WatchesTest {
  private final KvState state = new KvState(1 << 20);
  private final LinkedBlockingQueue<Event> loop = new LinkedBlockingQueue<>();
  private final Watches watches = new Watches("n1", state, new Replies("n1", state), () -> 0, loop::add,
      Duration.ofSeconds(10));
  private final OpApplier apply = watches.around(OpApplier.of(state));
  private final Sink sink = new Sink();

  /** A connection that always has room, recording what it is sent. */
  private static final class Sink implements WatchSink {
    final List<Response> got = new CopyOnWriteArrayList<>();

    @Override public void reply(Response response) { got.add(response); }
    @Override public boolean offer(Response message) { got.add(message); return true; }
    @Override public void send() { }
    @Override public boolean put(Response message) { got.add(message); return true; }
    @Override public boolean awaitRoom() { return true; }
    @Override public boolean isOpen() { return true; }
    @Override public void close() { }
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
    }, Duration.ofSeconds(10));
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
}
