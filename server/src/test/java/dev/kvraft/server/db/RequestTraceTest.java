package dev.kvraft.server.db;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

class RequestTraceTest {
  @Test
  void phasesSplitTheTotalAtEachStamp() {
    var t = RequestTrace.receivedNow("c");
    long r = t.received();
    t.taken(r + 10);
    t.raftDone(r + 110);
    var p = t.phases(r + 115);
    assertEquals(10, p.queueNanos());
    assertEquals(100, p.raftNanos());
    assertEquals(5, p.applyNanos());
    assertEquals(115, p.totalNanos());
  }

  @Test
  void aRequestAnsweredWithoutRaftSpendsNothingThere() {
    var t = RequestTrace.receivedNow("c");
    long r = t.received();
    t.taken(r + 7);
    var p = t.phases(r + 9);
    assertEquals(new RequestTrace.Phases(7, 0, 2), p);
    var never = RequestTrace.receivedNow("c");
    assertEquals(new RequestTrace.Phases(3, 0, 0), never.phases(never.received() + 3),
        "answered before the loop took it (invalid, overloaded): all queue");
  }
}
