package dev.kvraft.server.db;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvraft.proto.Error;
import dev.kvraft.server.testing.Requests;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The leader keeps one read barrier in flight: reads that come while it is under way wait for the next, sent as it
 * completes, and each of them still ends by its own deadline.
 */
@Timeout(30)
class ReadBarrierLoopTest extends LoopTestBase {
  /** Far more than the test takes, even on a loaded machine: only the test decides when a read is answered. */
  private static final long PATIENT = TimeUnit.SECONDS.toNanos(20);

  @Test
  void readsThatComeWhileABarrierIsUnderWayShareTheNextOne() throws Exception {
    startAsLeaderThatAppliedAnEntryOfItsTerm();
    submit(Requests.get(1, "a"), PATIENT);
    var first = next(raft.barriers, "read barrier");
    submit(Requests.get(2, "a"), PATIENT);
    aWholeLoopTurn(10);
    submit(Requests.get(3, "a"), PATIENT);
    aWholeLoopTurn(20);
    assertTrue(raft.barriers.isEmpty(), "no second barrier while the first is under way");

    first.complete(null);
    var one = answer();
    assertEquals(1, one.getId(), "the first barrier's read: " + one);
    assertEquals("x", one.getGet().getKv().getValue().toStringUtf8(), one.toString());
    var second = next(raft.barriers, "the barrier of the reads that came meanwhile");
    aWholeLoopTurn(30);
    assertNull(answers.poll(), "reads 2 and 3 wait for their barrier");
    second.complete(null);
    var two = answer();
    var three = answer();
    assertEquals(List.of(2L, 3L), List.of(two.getId(), three.getId()), "in the order they came");
    assertEquals("x", three.getGet().getKv().getValue().toStringUtf8(), three.toString());
    aWholeLoopTurn(40);
    assertTrue(raft.barriers.isEmpty(), "no barrier without reads");
  }

  @Test
  void aReadHeldForTheNextBarrierIsAnsweredByItsOwnDeadline() throws Exception {
    startAsLeaderThatAppliedAnEntryOfItsTerm();
    submit(Requests.get(1, "a"), PATIENT);
    var first = next(raft.barriers, "read barrier");
    submit(Requests.get(2, "a").toBuilder().setTimeoutMs(300).build(), TimeUnit.MILLISECONDS.toNanos(300));
    var expired = answer();
    assertEquals(2, expired.getId(), expired.toString());
    assertEquals(Error.Code.UNAVAILABLE, expired.getError().getCode(), "a read not served: " + expired);
    assertTrue(raft.barriers.isEmpty(), "the first barrier is still the only one");

    first.complete(null);
    var one = answer();
    assertEquals(1, one.getId(), one.toString());
    assertEquals("x", one.getGet().getKv().getValue().toStringUtf8(), one.toString());
    aWholeLoopTurn(10);
    assertTrue(raft.barriers.isEmpty(), "no barrier for a read already answered");
  }

  @Test
  void whenTheBarrierInFlightHasNoReadsLeftTheHeldOnesGetTheirOwn() throws Exception {
    startAsLeaderThatAppliedAnEntryOfItsTerm();
    submit(Requests.get(1, "a").toBuilder().setTimeoutMs(300).build(), TimeUnit.MILLISECONDS.toNanos(300));
    var first = next(raft.barriers, "read barrier");
    submit(Requests.get(2, "a"), PATIENT);
    var expired = answer();
    assertEquals(1, expired.getId(), expired.toString());
    assertEquals(Error.Code.UNAVAILABLE, expired.getError().getCode(), expired.toString());
    // Ratis has not finished the first barrier, but nobody waits on it any more: read 2 need not.
    var second = next(raft.barriers, "read 2's barrier");
    first.complete(null);
    aWholeLoopTurn(10);
    second.complete(null);
    var two = answer();
    assertEquals(2, two.getId(), two.toString());
    assertEquals("x", two.getGet().getKv().getValue().toStringUtf8(), two.toString());
  }
}
