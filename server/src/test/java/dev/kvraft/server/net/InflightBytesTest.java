package dev.kvraft.server.net;

import static org.junit.jupiter.api.Assertions.*;

import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import dev.kvraft.server.auth.AuthState;
import dev.kvraft.server.db.CommandSink;
import dev.kvraft.server.db.MemberToken;
import dev.kvraft.server.db.Replier;
import dev.kvraft.server.db.RequestObserver;
import dev.kvraft.server.db.RequestTrace;
import dev.kvraft.server.testing.Await;
import dev.kvraft.server.testing.RawClient;
import dev.kvraft.server.testing.Requests;
import dev.kvraft.server.testing.TestNodes;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Requests read and not yet answered are bounded in bytes ({@code limit.inflight.bytes} per connection,
 * {@code limit.inflight.total.bytes} over all): a client pipelining large requests while the database loop cannot
 * answer them (an election, a paused loop) is read only up to the bound, and TCP holds back the rest. A real
 * {@link ClientListener} over loopback, in front of a loop that holds every command until the test lets it go on.
 */
@Timeout(60)
class InflightBytesTest {
  private static final Duration WAIT = Duration.ofSeconds(20);
  /** A put of this value is a frame of a little over 1,000,000 bytes. */
  private static final String VALUE = "v".repeat(1_000_000);
  /** The length of every frame these tests send: ids below 128, keys of four bytes. */
  private static final long FRAME = put(1).getSerializedSize();

  @TempDir
  Path dir;
  private final PausedLoop loop = new PausedLoop();
  private ClientListener listener;
  private final List<RawClient> clients = new ArrayList<>();

  private void start(Map<String, String> settings) throws IOException {
    start(settings, loop);
  }

  private void start(Map<String, String> settings, CommandSink sink) throws IOException {
    listener = new ClientListener(TestNodes.single(dir, settings), sink, null, Members.byToken(new MemberToken()),
        null, () -> new AuthState.View(false, Map.of(), Map.of()));
    listener.start();
  }

  @AfterEach
  void stop() throws Exception {
    loop.resume();
    for (var c : clients) {
      c.close();
    }
    if (listener != null) {
      listener.close();
    }
  }

  private RawClient connect() throws IOException {
    var c = new RawClient(listener.port());
    clients.add(c);
    return c;
  }

  /** Writes {@code count} puts of {@link #VALUE}, ids from {@code firstId}, on a virtual thread of its own. */
  private static Thread pipeline(RawClient c, long firstId, int count) {
    return Thread.ofVirtual().start(() -> {
      try {
        for (int i = 0; i < count; i++) {
          c.write(put(firstId + i));
        }
        c.flush();
      } catch (IOException e) {
        // the test closed the connection
      }
    });
  }

  /**
   * Waits until the loop holds {@code atLeast} commands and each sender has either sent everything (the server read
   * it all: the bound did not hold) or is parked in a socket write (the server stopped reading, TCP pushed back: with
   * far more bytes sent than the socket buffers hold, that lasts until the loop goes on).
   */
  private void awaitHeldBack(int atLeast, Thread... senders) throws Exception {
    Await.until("the loop to hold " + atLeast + " commands and every sender to be done or held back", WAIT,
        () -> loop.held() >= atLeast && java.util.Arrays.stream(senders)
            .allMatch(t -> !t.isAlive() || t.getState() == Thread.State.WAITING));
  }

  private static Request put(long id) {
    return Requests.put(id, "k%03d".formatted(id), VALUE);
  }

  private static Set<Long> readAnswers(RawClient c, int count) throws IOException {
    var ids = new HashSet<Long>();
    for (int i = 0; i < count; i++) {
      var r = c.read();
      assertNotNull(r, "the server closed the connection after " + i + " answers");
      assertFalse(r.hasError(), r.toString());
      ids.add(r.getId());
    }
    return ids;
  }

  private static Set<Long> ids(long first, int count) {
    var ids = new HashSet<Long>();
    for (long i = first; i < first + count; i++) {
      ids.add(i);
    }
    return ids;
  }

  @Test
  void aClientPipeliningLargeRequestsIsReadOnlyUpToItsBoundUntilTheLoopAnswers() throws Exception {
    long bound = 4L << 20;
    start(Map.of("limit.inflight.bytes", String.valueOf(bound)));
    int fit = (int) (bound / FRAME);
    assertEquals(4, fit);
    var c = connect();
    var sender = pipeline(c, 1, 40); // 40 MB: far more than the bound and the socket buffers together
    awaitHeldBack(fit, sender);
    assertEquals(fit, loop.held(), "requests read while the loop answers none");
    assertTrue(sender.isAlive(), "the client is held back by TCP");
    assertEquals(fit * FRAME, listener.inflightBytes());

    loop.resume();
    assertEquals(ids(1, 40), readAnswers(c, 40), "every request is answered once the loop goes on");
    sender.join();
    assertEquals(fit, loop.mostHeld(), "never more held than fit in the bound");
    assertTrue(loop.mostCounted() <= bound, "counted at most the bound: " + loop.mostCounted());
    Await.until("the bytes to be given back", WAIT, () -> listener.inflightBytes() == 0);
  }

  @Test
  void oneRequestLargerThanTheBoundIsReadWhenNoneIsInFlight() throws Exception {
    start(Map.of("limit.inflight.bytes", String.valueOf(256 << 10)));
    var c = connect();
    var sender = pipeline(c, 1, 20);
    awaitHeldBack(1, sender);
    assertEquals(1, loop.held());
    assertEquals(FRAME, listener.inflightBytes());

    loop.resume();
    assertEquals(ids(1, 20), readAnswers(c, 20));
    assertEquals(1, loop.mostHeld(), "one at a time");
    Await.until("the bytes to be given back", WAIT, () -> listener.inflightBytes() == 0);
  }

  @Test
  void theTotalBoundHoldsOverEveryConnection() throws Exception {
    long total = 3L << 20;
    start(Map.of("limit.inflight.bytes", String.valueOf(8L << 20), "limit.inflight.total.bytes",
        String.valueOf(total)));
    var first = connect();
    var second = connect();
    var senders = new Thread[] {pipeline(first, 1, 20), pipeline(second, 101, 20)};
    awaitHeldBack(3, senders);
    assertEquals(3, loop.held(), "three fit in the total, whichever connections they came from");
    assertEquals(3 * FRAME, listener.inflightBytes());

    loop.resume();
    assertEquals(ids(1, 20), readAnswers(first, 20));
    assertEquals(ids(101, 20), readAnswers(second, 20));
    assertEquals(3, loop.mostHeld());
    assertTrue(loop.mostCounted() <= total, "counted at most the total: " + loop.mostCounted());
    Await.until("the bytes to be given back", WAIT, () -> listener.inflightBytes() == 0);
  }

  @Test
  void theBytesOfAClosedConnectionsRequestsAreGivenBackWhenTheyAreAnswered() throws Exception {
    start(Map.of("limit.inflight.bytes", String.valueOf(4L << 20)));
    var c = connect();
    var sender = pipeline(c, 1, 40);
    awaitHeldBack(4, sender);
    c.close(); // the client leaves with four requests in the loop and the rest unread
    loop.resume(); // their answers find the connection gone
    Await.until("the connection to end", WAIT, () -> listener.openConnections() == 0);
    Await.until("the bytes to be given back", WAIT, () -> listener.inflightBytes() == 0);
    assertTrue(loop.mostHeld() <= 4, "held " + loop.mostHeld());
  }

  @Test
  void aReaderWaitingForRoomStopsWhenTheServerClosesItsConnection() throws Exception {
    // Short request timeout: the closed connection's reader waits at most this (+1 s) for its requests' answers.
    start(Map.of("limit.inflight.bytes", String.valueOf(4L << 20), "request.timeout.ms", "500"));
    var c = connect();
    var sender = pipeline(c, 1, 40);
    awaitHeldBack(4, sender);
    listener.close(System.nanoTime()); // the server stops: every connection is closed, the loop still holds four
    Await.until("the connection to end while the loop still holds its requests", WAIT,
        () -> listener.openConnections() == 0);
    assertEquals(4, loop.held());
    assertEquals(4 * FRAME, listener.inflightBytes(), "the loop's requests still count until answered");
    loop.resume();
    assertEquals(0, listener.inflightBytes(), "answered into a closed connection: given back all the same");
  }

  @Test
  void aClientThatLeavesItsAnswersUnreadHoldsNoRoomWhileItWaitsAndIsClosed() throws Exception {
    // Found by review: with MAX_IN_FLIGHT answers unwritten (the client reads nothing), the reader took room for the
    // next frame and then waited for an answer slot with no deadline, so the room stayed taken: enough such clients
    // filled limit.inflight.total.bytes and every other client's reader waited for room. The outbox bounds are out
    // of the way here, so that the unwritten answers are what stops this client.
    start(Map.of("limit.inflight.total.bytes", "1500000", "limit.outbox.bytes", String.valueOf(16L << 30),
        "limit.outbox.total.bytes", String.valueOf(64L << 30), "client.write.timeout.ms", "1000"));
    loop.answerMessage = "x".repeat(1_000_000); // answers no socket buffer holds: the writer blocks on the first few
    loop.resume();
    var silent = new java.net.Socket();
    silent.setReceiveBufferSize(4096);
    silent.connect(new java.net.InetSocketAddress("127.0.0.1", listener.port()));
    var out = new java.io.BufferedOutputStream(silent.getOutputStream());
    Thread.ofVirtual().start(() -> {
      try (silent) {
        for (int i = 1; i <= ClientConnection.MAX_IN_FLIGHT; i++) {
          Requests.put(i, "k", "v").writeDelimitedTo(out);
        }
        for (int i = 0; i < 8; i++) {
          put(10_000 + i).writeDelimitedTo(out);
        }
        out.flush();
      } catch (IOException e) {
        // the server closed the connection
      }
    });
    // Closed by whichever comes first after client.write.timeout.ms: the sweeper (its writer is stuck) or its reader
    // (no answer slot freed); either way the connection no longer holds room the others need.
    Await.until("the server to close the connection that reads none of its answers", WAIT,
        () -> listener.openConnections() == 0);
    assertEquals(0, listener.inflightBytes(), "its requests' room is given back");
    var other = connect();
    other.send(put(1));
    var answer = other.read();
    assertNotNull(answer, "another client's large request is read and answered");
    assertEquals(1, answer.getId());
  }

  @Test
  void aLargeRequestWaitingForRoomIsNotOvertakenByAStreamOfSmallOnes() throws Exception {
    // Found by review: a reader waiting for room in limit.inflight.total.bytes was woken only by its own writer or a
    // 100 ms poll, while the readers of busy connections, woken by their own answers, took the room as soon as it was
    // freed. Here two clients stream small puts to a loop that answers each one when the next arrives (and any it
    // has held 100 ms with nothing after it, as a real loop answers by the deadline at the latest): one small request
    // is always held, so the large one, which fits only alone, got in only after the stream ended.
    var relay = new RelayLoop(Duration.ofMillis(100));
    try {
      start(Map.of("limit.inflight.total.bytes", "32768"), relay);
      var small = "s".repeat(8_000);
      var large = Requests.put(LARGE_ID, "large", "L".repeat(30_000));
      assertTrue(2 * Requests.put(1, "s", small).getSerializedSize() < 32768, "two small ones fit together");
      assertTrue(Requests.put(1, "s", small).getSerializedSize() + large.getSerializedSize() > 32768,
          "the large one does not fit beside a small one");
      int perClient = 20_000;
      var stop = new java.util.concurrent.atomic.AtomicBoolean();
      var streams = new ArrayList<Thread>();
      for (long first : new long[] {1, 1_000_001}) {
        var c = connect();
        streams.add(Thread.ofVirtual().name("small-writer-" + first).start(() -> {
          try {
            for (long id = first; id < first + perClient && !stop.get(); id++) {
              c.send(Requests.put(id, "s", small));
            }
          } catch (IOException e) {
            // the test closed the connection
          }
        }));
        streams.add(Thread.ofVirtual().name("small-reader-" + first).start(() -> {
          try {
            while (c.read() != null) {
              // answers are drained so they never fill the client's socket
            }
          } catch (IOException e) {
            // the test closed the connection
          }
        }));
      }
      Await.until("the small requests to stream", WAIT, () -> relay.arrivals() >= 200);

      var c = connect();
      c.send(large);
      Await.until("the large request to reach the loop", WAIT, () -> relay.arrivalsAfter(LARGE_ID) >= 0);
      stop.set(true);
      for (var t : streams) {
        if (t.getName().startsWith("small-writer")) {
          t.join();
        }
      }
      int after = relay.arrivalsAfter(LARGE_ID);
      assertTrue(after > 0, "the large request was read only after all " + (relay.arrivals() - 1)
          + " small ones of the stream, none after it: small requests overtook it for as long as they came");
      var answer = c.read();
      assertNotNull(answer, "the server closed the large request's connection");
      assertEquals(LARGE_ID, answer.getId());
      assertFalse(answer.hasError(), answer.toString());
      for (var other : clients) {
        other.close();
      }
      for (var t : streams) {
        t.join();
      }
      Await.until("the bytes to be given back", WAIT, () -> listener.inflightBytes() == 0);
    } finally {
      relay.close();
    }
  }

  private static final long LARGE_ID = 999_999;

  /**
   * A database loop that answers each command when the next one arrives, and one it has held for {@code hold} with
   * nothing arriving after it; records the ids in the order they arrived.
   */
  private static final class RelayLoop implements CommandSink, AutoCloseable {
    private final long holdNanos;
    private final List<Long> arrived = new ArrayList<>();
    private final List<Request> requests = new ArrayList<>();
    private final List<Replier> repliers = new ArrayList<>();
    private long lastArrival;
    private boolean closed;

    RelayLoop(Duration hold) {
      holdNanos = hold.toNanos();
      Thread.ofVirtual().name("relay-loop-ticker").start(this::tick);
    }

    @Override
    public synchronized boolean submit(Request request, Replier replier, long deadline, RequestTrace trace) {
      answerHeld();
      arrived.add(request.getId());
      requests.add(request);
      repliers.add(replier);
      lastArrival = System.nanoTime();
      notifyAll();
      return true;
    }

    private void answerHeld() {
      for (int i = 0; i < requests.size(); i++) {
        repliers.get(i).reply(Response.newBuilder().setId(requests.get(i).getId()).build());
      }
      requests.clear();
      repliers.clear();
    }

    /** Answers what was held {@link #holdNanos} with nothing after it. */
    private synchronized void tick() {
      try {
        while (!closed) {
          long left = lastArrival + holdNanos - System.nanoTime();
          if (requests.isEmpty()) {
            wait();
          } else if (left > 0) {
            TimeUnit.NANOSECONDS.timedWait(this, left);
          } else {
            answerHeld();
          }
        }
      } catch (InterruptedException e) {
        // closed
      }
    }

    synchronized int arrivals() {
      return arrived.size();
    }

    /** How many commands arrived after the one with this id (-1: it never did). */
    synchronized int arrivalsAfter(long id) {
      int at = arrived.indexOf(id);
      return at < 0 ? -1 : arrived.size() - 1 - at;
    }

    @Override
    public synchronized void close() {
      closed = true;
      answerHeld();
      notifyAll();
    }

    @Override
    public RequestObserver requestObserver() {
      return RequestObserver.NONE;
    }
  }

  @Test
  void aRequestReceivedWholeHoldsNoRoomOfThePartialFramesBoundWhileItWaitsForTheLoop() throws Exception {
    // Room for one frame being received at a time, and a loop whose queue takes nothing until the test lets it.
    var go = new java.util.concurrent.CountDownLatch(1);
    var waiting = new java.util.concurrent.atomic.AtomicInteger();
    var blocked = new CommandSink() {
      @Override
      public boolean submit(Request request, Replier replier, long deadline, RequestTrace trace)
          throws InterruptedException {
        waiting.incrementAndGet();
        go.await();
        replier.reply(Response.newBuilder().setId(request.getId()).build());
        return true;
      }

      @Override
      public RequestObserver requestObserver() {
        return loop.requestObserver();
      }
    };
    start(Map.of("limit.partial.frames.bytes", String.valueOf(FRAME + FRAME / 2), "limit.frame.bytes",
        String.valueOf(FRAME + FRAME / 2), "request.timeout.ms", "30000"),
        blocked);
    var first = connect();
    first.write(put(1));
    first.flush();
    Await.until("the first request to wait for the loop's queue", WAIT, () -> waiting.get() == 1);

    // The first frame arrived whole: a second client's frame of the same size must be received, not refused.
    var second = connect();
    second.write(put(2));
    second.flush();
    Await.until("the second request to wait for the loop's queue too", WAIT, () -> waiting.get() == 2);
    go.countDown();
    assertEquals(Set.of(1L), readAnswers(first, 1));
    assertEquals(Set.of(2L), readAnswers(second, 1), "not OVERLOADED: no frame was being received");
  }

  /**
   * A database loop that holds every command until {@link #resume}, then answers the held ones and every later one
   * at once (OK, no body). Records the most commands it held at once and the most request bytes the listener counted
   * when one arrived.
   */
  private final class PausedLoop implements CommandSink {
    private final List<Request> requests = new ArrayList<>();
    private final List<Replier> repliers = new ArrayList<>();
    private boolean paused = true;
    private int mostHeld;
    private long mostCounted;

    /** Each answer's error message once resumed, one string shared by all (null: an empty OK answer). */
    volatile String answerMessage;
    private int submitted;

    private Response answer(Request request) {
      var r = Response.newBuilder().setId(request.getId());
      if (answerMessage != null) {
        r.setError(dev.kvraft.proto.Error.newBuilder().setMessage(answerMessage));
      }
      return r.build();
    }

    @Override
    public synchronized boolean submit(Request request, Replier replier, long deadline, RequestTrace trace) {
      mostCounted = Math.max(mostCounted, listener.inflightBytes());
      submitted++;
      if (!paused) {
        replier.reply(answer(request));
        return true;
      }
      requests.add(request);
      repliers.add(replier);
      mostHeld = Math.max(mostHeld, requests.size());
      return true;
    }

    synchronized void resume() {
      paused = false;
      for (int i = 0; i < requests.size(); i++) {
        repliers.get(i).reply(answer(requests.get(i)));
      }
      requests.clear();
      repliers.clear();
    }

    synchronized int held() {
      return requests.size();
    }

    synchronized int submitted() {
      return submitted;
    }

    synchronized int mostHeld() {
      return mostHeld;
    }

    synchronized long mostCounted() {
      return mostCounted;
    }

    @Override
    public RequestObserver requestObserver() {
      return RequestObserver.NONE;
    }
  }
}
