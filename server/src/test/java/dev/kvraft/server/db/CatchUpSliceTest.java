package dev.kvraft.server.db;

import static org.junit.jupiter.api.Assertions.*;

import com.google.protobuf.ByteString;
import dev.kvraft.proto.Put;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import dev.kvraft.proto.Watch;
import dev.kvraft.proto.WriteOp;
import dev.kvraft.server.testing.Await;
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
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Catch-ups take turns by the slice ({@link WatchCatchUp#SLICE_NANOS}): clients that read their events slowly, never
 * slowly enough to be closed, hold every turn only for a slice while another catch-up waits, not until their
 * history is done.
 */
@Timeout(60)
class CatchUpSliceTest {
  /** Revisions in kvraft.db, each a put of k with a value this large: two to a message of about 1 MiB. */
  private static final int REVISIONS = 12;
  private static final int VALUE_BYTES = 600 << 10;

  @TempDir
  Path dir;
  private final KvState state = new KvState(1 << 20);
  private final LinkedBlockingQueue<Event> loop = new LinkedBlockingQueue<>();
  private final Watches watches = new Watches("n1", state, new Replies("n1", state), () -> 0, loop::add,
      Duration.ofSeconds(10), new LeaderAbsence("n1", () -> true, Duration.ofSeconds(3)));
  private final OpApplier apply = watches.around(OpApplier.of(state));
  private final List<SlowSink> slow = new ArrayList<>();

  /** A client that takes each message of its catch-up only after two seconds, until it speeds up. */
  static final class SlowSink extends WatchesTest.Sink {
    volatile long delayMillis = 2_000;

    @Override
    public boolean put(Response message) {
      try {
        Thread.sleep(delayMillis); // the client reading slowly: it takes this long to make room for the message
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return false;
      }
      return super.put(message);
    }
  }

  @AfterEach
  void closeSlowClients() {
    for (var s : slow) {
      s.closed = true; // their catch-ups stop after the message they are writing
    }
  }

  private static List<Long> allRevisions() {
    return java.util.stream.LongStream.rangeClosed(1, REVISIONS).boxed().toList();
  }

  /** The revisions of the events watch {@code id} got on {@code on}, in the order they came. */
  private static List<Long> revisionsOf(WatchesTest.Sink on, long id) {
    return on.eventsOf(id).stream().flatMap(r -> r.getWatch().getEventsList().stream())
        .map(e -> e.getKv().getModRevision()).toList();
  }

  private void openOn(WatchesTest.Sink on, long id) {
    watches.open(new Event.Command(Request.newBuilder().setId(id).setWatch(Watch.newBuilder()
        .setKey(ByteString.copyFromUtf8("k")).setStartRevision(1)).build(), on,
        System.nanoTime() + TimeUnit.SECONDS.toNanos(5), RequestTrace.receivedNow("test")));
  }

  @Test
  void slowReadersGiveTheirTurnsUpToAWaitingCatchUpAfterASlice() throws Exception {
    var file = dir.resolve("kvraft.db");
    var value = new byte[VALUE_BYTES];
    try (var mirror = LogMirror.open(file)) {
      for (int rev = 1; rev <= REVISIONS; rev++) {
        mirror.entry(rev, 1, EntryKind.NORMAL, "n1@x", 1, "put k", null);
        mirror.op(rev, 0, OpKind.PUT, "k".getBytes(StandardCharsets.UTF_8), value, rev,
            rev == 1 ? OpOutcome.CREATED : OpOutcome.UPDATED, 1, rev);
        mirror.commit();
        apply.apply(WriteOp.newBuilder().setPut(Put.newBuilder().setKey(ByteString.copyFromUtf8("k"))
            .setValue(ByteString.copyFromUtf8("v"))).build(), KvState.OpListener.NONE);
      }
      watches.flush();
      watches.history(() -> HistoryReader.open(file));

      // Four slow clients with four watches from revision 1 each: their catch-ups take every turn there is.
      long id = 1;
      for (int c = 0; c < WatchCatchUp.OPEN_AT_ONCE / WatchCatchUp.OPEN_PER_CONNECTION; c++) {
        var s = new SlowSink();
        slow.add(s);
        for (int n = 0; n < WatchCatchUp.OPEN_PER_CONNECTION; n++) {
          openOn(s, id++);
        }
      }
      Await.until("the slow clients' catch-ups to hold every turn", Duration.ofSeconds(10),
          () -> slow.stream().mapToInt(s -> watches.catchUps().runningOrWaiting(s)).sum()
              == WatchCatchUp.OPEN_AT_ONCE && watches.catchUps().waiting() == 0);

      // A client that reads at once: without slices it would wait for a slow catch-up to finish (12 s).
      var fast = new WatchesTest.Sink();
      long fastId = id;
      openOn(fast, fastId);
      Await.until("the fast client's catch-up to reach revision " + REVISIONS + " (a turn after a slice)",
          Duration.ofSeconds(8), () -> fast.eventsOf(fastId).stream().anyMatch(r -> r.getWatch()
              .getEvents(r.getWatch().getEventsCount() - 1).getKv().getModRevision() == REVISIONS));
      assertEquals(allRevisions(), revisionsOf(fast, fastId), "every revision once, in order");

      // The slow ones gave their turns up partway (mid-page) and went on later: none lost or repeated an event.
      slow.forEach(s -> s.delayMillis = 0);
      for (int c = 0; c < slow.size(); c++) {
        var s = slow.get(c);
        for (long w = c * WatchCatchUp.OPEN_PER_CONNECTION + 1; w <= (c + 1) * WatchCatchUp.OPEN_PER_CONNECTION; w++) {
          long watch = w;
          Await.until("slow watch " + watch + " to reach revision " + REVISIONS, Duration.ofSeconds(20),
              () -> revisionsOf(s, watch).contains((long) REVISIONS));
          assertEquals(allRevisions(), revisionsOf(s, watch), "watch " + watch + ": every revision once, in order");
        }
      }
    }
  }
}
