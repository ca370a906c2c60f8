package dev.kvraft.server.db;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@link CatchUpTurns} alone; with catch-ups of real watches, in {@link WatchesTest}. */
class CatchUpTurnsTest {
  /**
   * Connections take turns: with one turn, connection A's three catch-ups and then B's one run A1, A2, B1, A3, not
   * all of A's first; a catch-up no longer wanted is dropped when its turn comes, and one whose start fails closes
   * its connection (its other catch-ups go with it) and passes the turn on.
   */
  @Test
  void connectionsTakeTurnsAndAnUnwantedOrFailedStartPassesTheTurnOn() {
    var turns = new CatchUpTurns(1, 4);
    var a = new WatchesTest.Sink();
    var b = new WatchesTest.Sink();
    var started = new ArrayList<String>();
    for (var name : List.of("A1", "A2", "A3")) {
      turns.submit(a, () -> false, () -> started.add(name), () -> started.add("failed " + name));
    }
    turns.submit(b, () -> false, () -> started.add("B1"), () -> started.add("failed B1"));
    var unwanted = new java.util.concurrent.atomic.AtomicBoolean();
    turns.submit(b, unwanted::get, () -> started.add("B2"), () -> started.add("failed B2"));
    turns.submit(b, () -> false, () -> {
      throw new IllegalStateException("no thread");
    }, b::close);
    turns.submit(b, () -> false, () -> started.add("B4"), () -> started.add("failed B4"));
    unwanted.set(true); // B2's watch ended while it waited
    for (var sink : List.of(a, a, b, a)) {
      turns.finished(sink); // each started catch-up ends in turn
    }
    // B2 was dropped; B3's start failed and closed B's connection, so B4 went with it.
    assertEquals(List.of("A1", "A2", "B1", "A3"), started, "turns by connection");
    assertTrue(b.closed, "the failed start closed its connection");
    assertEquals(0, turns.waiting(), "nothing left waiting");
  }

  /**
   * A client that cancels its watches and opens them again while every turn is busy leaves pending starts no longer
   * wanted: they go when the connection's queue reaches 64 (and each power of two after), not only when their turn
   * comes, so they cannot pile up past the watches it has open.
   */
  @Test
  void startsNoLongerWantedAreTrimmedWhileEveryTurnIsBusy() {
    var turns = new CatchUpTurns(1, 4);
    var sink = new WatchesTest.Sink();
    turns.submit(sink, () -> false, () -> { }, () -> { }); // runs, and holds the only turn
    for (int i = 0; i < 62; i++) {
      turns.submit(sink, () -> true, () -> { }, () -> { }); // cancelled watches' starts
    }
    turns.submit(sink, () -> false, () -> { }, () -> { });
    assertEquals(63, turns.waiting(), "below 64 nothing is trimmed");
    turns.submit(sink, () -> false, () -> { }, () -> { });
    assertEquals(2, turns.waiting(), "at 64 the 62 unwanted go; the two wanted stay");
  }

  /**
   * A catch-up gives its turn up after a slice only if a waiting catch-up could take it: not one of a connection at
   * its own bound, nor one no longer wanted (it would only stop and start again).
   */
  @Test
  void aTurnIsHandedOnOnlyToACatchUpThatCouldTakeIt() {
    var turns = new CatchUpTurns(2, 1);
    var a = new WatchesTest.Sink();
    var b = new WatchesTest.Sink();
    turns.submit(a, () -> false, () -> { }, () -> { }); // runs
    turns.submit(b, () -> false, () -> { }, () -> { }); // runs: every turn is busy
    turns.submit(b, () -> false, () -> { }, () -> { }); // waits, and B is at its bound of one
    assertFalse(turns.wouldHandOn(a), "B's waiting catch-up could not take A's turn");
    assertTrue(turns.wouldHandOn(b), "B's own waiting catch-up could take B's");
    var c = new WatchesTest.Sink();
    turns.submit(c, () -> true, () -> { }, () -> { });
    assertFalse(turns.wouldHandOn(a), "C's only catch-up is no longer wanted");
    assertEquals(1, turns.waiting(), "and it is dropped as it is looked at: B's one waits");
    turns.submit(c, () -> false, () -> { }, () -> { });
    assertTrue(turns.wouldHandOn(a), "C, below its bound, could take A's turn");
  }
}
