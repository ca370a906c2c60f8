package dev.kvraft.server.db;

import static org.junit.jupiter.api.Assertions.*;

import com.google.protobuf.ByteString;
import dev.kvraft.proto.Error;
import dev.kvraft.proto.LogEntry;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import dev.kvraft.server.config.ServerConfig;
import dev.kvraft.server.testing.Requests;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * What the database loop does when something fails on its thread. A command whose handling throws (a bug) is answered
 * and the loop goes on; a node that is stopping, or a leader of a newer build, gets an answer, not a dead loop. And
 * when the loop does die (an exception while applying an entry), everything that waits for it fails at once, rather
 * than waiting for ever: a node starting from a snapshot would otherwise hang instead of exiting.
 */
@Timeout(30)
class LoopFailuresTest {
  private final ServerConfig config = ServerConfig.fromMap(Map.of("node.id", "n1",
      "cluster", "n1=127.0.0.1:7001:7002,n2=127.0.0.1:7003:7004", "request.timeout.ms", "1500"));
  private final FakeRaft raft = new FakeRaft();
  private final FakeLink link = new FakeLink();
  private final DatabaseLoop loop = new DatabaseLoop(config, "n1@test");
  private final BlockingQueue<Response> answers = new LinkedBlockingQueue<>();

  @AfterEach
  void stop() throws InterruptedException {
    loop.close();
  }

  private void start(ApplyObserver observer, Snapshotter snapshots) {
    loop.bind(raft, link, observer, snapshots);
    loop.start();
  }

  private Response call(Request r) throws InterruptedException {
    assertTrue(loop.commands().submit(r, answers::add, System.nanoTime() + TimeUnit.SECONDS.toNanos(5),
        RequestTrace.receivedNow("test")));
    var answer = answers.poll(10, TimeUnit.SECONDS);
    assertNotNull(answer, "no answer to request " + r.getId() + " within 10 s");
    assertEquals(r.getId(), answer.getId());
    return answer;
  }

  private static Request snapshot(long id) {
    return Request.newBuilder().setId(id).setSnapshot(dev.kvraft.proto.Snapshot.getDefaultInstance()).build();
  }

  private void assertStillServes(long id) throws InterruptedException {
    var r = call(Requests.staleGet(id, "x"));
    assertFalse(r.hasError(), "the loop still answers: " + r);
  }

  @Test
  void aCommandWhoseHandlingThrowsBeforeItAnswersIsAnsweredInternalAndTheLoopGoesOn() throws Exception {
    raft.members = null; // a bug: Members then throws before it answers
    start(ApplyObserver.NONE, null);
    var r = call(Request.newBuilder().setId(1).setMembers(dev.kvraft.proto.Members.getDefaultInstance()).build());
    assertEquals(Error.Code.INTERNAL, r.getError().getCode(), r.toString());
    assertTrue(r.getError().getMessage().contains("bug"), r.toString());
    assertStillServes(2);
    assertFalse(loop.died());
    assertTrue(answers.isEmpty(), "one answer only: " + answers);
  }

  @Test
  void aSnapshotWriterThatThrowsBeforeItTakesTheCopyIsAnsweredInternal() throws Exception {
    start(ApplyObserver.NONE, state -> {
      throw new IllegalStateException("a bug in the snapshot writer");
    });
    var r = call(snapshot(1));
    assertEquals(Error.Code.INTERNAL, r.getError().getCode(), r.toString());
    assertStillServes(2);
    assertTrue(answers.isEmpty(), "one answer only: " + answers);
  }

  @Test
  void aWatchWhoseOpeningThrowsStopsTheLoopWithOneAnswer() throws Exception {
    // A watch is registered before it is answered "created": what a failure left behind is not known.
    start(ApplyObserver.NONE, null);
    var sink = new WatchesTest.Sink() {
      @Override
      public void watching(int delta) {
        throw new IllegalStateException("a bug in the connection");
      }
    };
    var watch = Request.newBuilder().setId(1).setWatch(dev.kvraft.proto.Watch.newBuilder()
        .setKey(ByteString.copyFromUtf8("k"))).build();
    assertTrue(loop.commands().submit(watch, sink, System.nanoTime() + TimeUnit.SECONDS.toNanos(5),
        RequestTrace.receivedNow("test")));
    dev.kvraft.server.testing.Await.until("the loop to stop", java.time.Duration.ofSeconds(10), loop::died);
    assertEquals(1, sink.got.size(), "one answer: " + sink.got);
    assertEquals(Error.Code.UNAVAILABLE, sink.got.getFirst().getError().getCode(), sink.got.toString());
    var r = call(Requests.staleGet(2, "x"));
    assertEquals(Error.Code.UNAVAILABLE, r.getError().getCode(), "answered for the dead loop: " + r);
  }

  @Test
  void aSnapshotAskedOfANodeWhoseWriterIsClosedIsAnsweredUnavailable() throws Exception {
    // Ratis closes the state machine, and its writer, before the loop stops.
    start(ApplyObserver.NONE, state -> {
      throw new RejectedExecutionException("the writer is shut down");
    });
    var r = call(snapshot(1));
    assertEquals(Error.Code.UNAVAILABLE, r.getError().getCode(), r.toString());
    assertTrue(r.getError().getMessage().contains("stopping"), r.toString());
    assertStillServes(2);
  }

  @Test
  void anErrorCodeThisBuildDoesNotKnowFromTheLeaderIsPassedOnAsInternal() throws Exception {
    raft.leaderId = "n2";
    start(ApplyObserver.NONE, null);
    assertTrue(loop.commands().submit(Requests.get(1, "a"), answers::add,
        System.nanoTime() + TimeUnit.SECONDS.toNanos(5), RequestTrace.receivedNow("test")));
    var readIndex = link.sent.poll(10, TimeUnit.SECONDS);
    assertNotNull(readIndex, "no ReadIndex sent to the leader");
    var fwd = readIndex.batch().get(0).request();
    assertTrue(fwd.hasReadIndex(), fwd.toString());
    loop.forwardSink().replied(Response.newBuilder().setId(fwd.getId()).setError(Error.newBuilder()
        .setCodeValue(99).setMessage("a code from a newer build")).build());
    var r = answers.poll(10, TimeUnit.SECONDS);
    assertNotNull(r, "the read was not answered");
    assertEquals(Error.Code.INTERNAL, r.getError().getCode(), r.toString());
    assertTrue(r.getError().getMessage().startsWith("a code from a newer build"), r.toString());
    assertStillServes(2);
  }

  @Test
  void whenTheLoopDiesEverythingThatWaitsForItFailsAtOnce() throws Exception {
    start(new ApplyObserver() {
      @Override
      public KvState.OpListener beginEntry(LogPosition at, dev.kvraft.storage.EntryKind kind, String proposer,
          int opCount, String summary, ByteString bytes) {
        throw new IllegalStateException("kvraft.db is gone");
      }
    }, null);
    var entry = LogEntry.newBuilder().setProposer("n2@x").build().toByteString();
    var first = loop.stateMachine().applied(LogPosition.of(1, 1), entry);
    var failed = assertThrows(ExecutionException.class, () -> first.get(10, TimeUnit.SECONDS),
        "the entry whose apply killed the loop fails, it does not hang");
    assertTrue(failed.getCause().getMessage().contains("kvraft.db is gone"), failed.toString());
    assertTrue(loop.died());

    CompletableFuture<Void> install = loop.stateMachine().install(LogPosition.of(1, 2), 0, "",
        new KvState.Loader().build(), Map.of(), "test");
    assertThrows(ExecutionException.class, () -> install.get(10, TimeUnit.SECONDS),
        "a snapshot install after the death fails at once (a starting node stops with the cause)");
    assertThrows(ExecutionException.class, () -> loop.stateMachine().pointInTime().get(10, TimeUnit.SECONDS));
    var r = call(Requests.staleGet(3, "x"));
    assertEquals(Error.Code.UNAVAILABLE, r.getError().getCode(), r.toString());
    assertTrue(r.getError().getMessage().contains("use another node"), r.toString());
  }
}
