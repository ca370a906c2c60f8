package dev.kvraft.server.db;

import static org.junit.jupiter.api.Assertions.*;

import dev.kvraft.server.testing.Requests;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class PendingRequestsTest {
  private final PendingRequests pending = new PendingRequests();
  private final List<dev.kvraft.proto.Response> answers = new ArrayList<>();

  private Event.Command command(long id, long deadline) {
    return new Event.Command(Requests.put(id, "k" + id, "v"), answers::add, deadline, RequestTrace.receivedNow("t"));
  }

  private Event.Command keepAlive(long id, long deadline) {
    return new Event.Command(dev.kvraft.proto.Request.newBuilder().setId(id).setLeaseKeepAlive(
        dev.kvraft.proto.LeaseKeepAlive.newBuilder().setId(7)).build(), answers::add, deadline,
        RequestTrace.receivedNow("t"));
  }

  private static List<Long> ids(List<Event.Command> commands) {
    return commands.stream().map(c -> c.request().getId()).toList();
  }

  @Test
  void eachTableAnswersOnceByItsId() {
    var p = Pending.of(List.of(command(1, 100), command(2, 50)));
    assertEquals(50, p.deadline(), "a call's deadline is its earliest command's");
    pending.proposed(7, p);
    assertFalse(pending.isEmpty());
    assertSame(p, pending.proposalDone(7));
    assertNull(pending.proposalDone(7), "answered once");
    pending.barrierSent(8, p);
    assertNull(pending.forwardDone(8), "ids of one table never match another's");
    assertSame(p, pending.barrierDone(8));
    assertTrue(pending.isEmpty());
  }

  @Test
  void heldKeepAlivesAreTakenInArrivalOrderAndCountAsWaiting() {
    assertFalse(pending.keepAlivesHeld());
    assertEquals(List.of(), pending.takeHeldKeepAlives());
    pending.holdKeepAlive(keepAlive(1, 100));
    pending.holdKeepAlive(keepAlive(2, 100));
    assertTrue(pending.keepAlivesHeld());
    assertFalse(pending.isEmpty(), "the idle check at shutdown waits for them");
    assertEquals(List.of(1L, 2L), ids(pending.takeHeldKeepAlives()));
    assertTrue(pending.isEmpty());
  }

  @Test
  void readsWaitUntilTheirIndexIsAppliedInIndexOrder() {
    var a = Pending.of(List.of(command(1, 100)));
    var b = Pending.of(List.of(command(2, 100)));
    pending.awaitApplied(20, b);
    pending.awaitApplied(10, a);
    assertEquals(List.of(), pending.appliedUpTo(9));
    assertEquals(List.of(a), pending.appliedUpTo(15));
    assertEquals(List.of(b), pending.appliedUpTo(20));
    assertTrue(pending.isEmpty());
  }

  @Test
  void retriesComeBackWhenDueOldestFirst() {
    pending.retryAt(List.of(command(1, 1000)), 10);
    pending.retryAt(List.of(command(2, 1000), command(3, 1000)), 20);
    assertEquals(List.of(), pending.dueRetries(9));
    assertEquals(List.of(1L), ids(pending.dueRetries(15)));
    assertEquals(List.of(2L, 3L), ids(pending.dueRetries(25)));
    assertTrue(pending.isEmpty());
  }

  @Test
  void anIdleLoopWakesWhenTheFirstRetryIsDueNotAtItsNextTick() {
    assertEquals(50, pending.nanosUntilFirstRetry(0, 50), "nothing waits: the whole tick");
    pending.retryAt(List.of(command(1, 1000)), 20);
    pending.retryAt(List.of(command(2, 1000)), 40);
    assertEquals(20, pending.nanosUntilFirstRetry(0, 50), "a retry due before the tick ends wakes the loop then");
    assertEquals(50, pending.nanosUntilFirstRetry(-100, 50), "one due after the tick waits for the tick");
    assertEquals(0, pending.nanosUntilFirstRetry(30, 50), "one overdue: no wait at all");
    pending.dueRetries(30);
    assertEquals(10, pending.nanosUntilFirstRetry(30, 50), "then the next one");
  }

  @Test
  void expiryTakesOutEveryTableButLeavesWhatIsStillInTime() {
    pending.proposed(1, Pending.of(List.of(command(1, 10))));
    pending.proposed(2, Pending.of(List.of(command(2, 100))));
    pending.forwarded(3, Pending.of(List.of(command(3, 10))));
    pending.barrierSent(4, Pending.of(List.of(command(4, 10))));
    pending.readIndexSent(5, Pending.of(List.of(command(5, 10))));
    pending.awaitApplied(99, Pending.of(List.of(command(6, 10))));
    pending.holdKeepAlive(keepAlive(7, 10));
    pending.holdKeepAlive(keepAlive(8, 100));
    pending.holdForBarrier(List.of(command(9, 10), command(10, 100)));
    var e = pending.expire(10);
    assertEquals(List.of(1L), e.proposalIds(), "expired proposals are named so Raft can forget them");
    assertEquals(List.of(1L, 3L, 7L), e.writes().stream().flatMap(p -> ids(p.commands()).stream()).toList(),
        "a held keep-alive is a write of unknown outcome (the leader extended its lease when it took it)");
    assertEquals(List.of(4L, 5L, 6L, 9L), e.reads().stream().flatMap(p -> ids(p.commands()).stream()).sorted()
        .toList(), "a read held for the next barrier expires by its own deadline too");
    assertFalse(pending.isEmpty(), "proposal 2 is still in time");
    assertTrue(pending.expire(10).isEmpty());
    assertNotNull(pending.proposalDone(2));
    assertEquals(List.of(8L), ids(pending.takeHeldKeepAlives()), "keep-alive 8 is still in time");
    assertEquals(List.of(10L), ids(pending.takeHeldReads()), "held read 10 is still in time");
    assertFalse(pending.holdsReads());
  }

  @Test
  void aCallsCommandsExpireEachAtItsOwnDeadline() {
    pending.proposed(1, Pending.of(List.of(command(1, 10), command(2, 100), command(3, 10))));
    pending.barrierSent(2, Pending.of(List.of(command(4, 100), command(5, 10))));
    pending.awaitApplied(99, Pending.of(List.of(command(6, 10), command(7, 100))));
    var e = pending.expire(10);
    assertEquals(List.of(), e.proposalIds(), "proposal 1 still waits for command 2: Raft must not forget it");
    assertEquals(List.of(1L, 3L), e.writes().stream().flatMap(p -> ids(p.commands()).stream()).toList());
    assertEquals(List.of(5L, 6L), e.reads().stream().flatMap(p -> ids(p.commands()).stream()).sorted().toList());
    assertTrue(pending.expire(10).isEmpty(), "each command expires once");
    var proposal = pending.proposalDone(1);
    assertNull(proposal.at(0), "op 0's command was answered already");
    assertEquals(2, proposal.at(1).request().getId(), "op 1 is still command 2");
    assertNull(proposal.at(2));
    assertEquals(List.of(2L), ids(proposal.commands()));
    assertEquals(100, proposal.deadline());
    assertEquals(List.of(4L), ids(pending.barrierDone(2).commands()));
    assertEquals(List.of(7L), ids(pending.appliedUpTo(99).get(0).commands()));
    assertTrue(pending.isEmpty());
  }

  @Test
  void drainSeparatesWritesThatMayHaveAppliedFromTheRest() {
    pending.proposed(1, Pending.of(List.of(command(1, 10))));
    pending.forwarded(2, Pending.of(List.of(command(2, 10))));
    pending.barrierSent(3, Pending.of(List.of(command(3, 10))));
    pending.readIndexSent(4, Pending.of(List.of(command(4, 10))));
    pending.awaitApplied(5, Pending.of(List.of(command(5, 10))));
    pending.retryAt(List.of(command(6, 10)), 5);
    pending.holdKeepAlive(keepAlive(7, 10));
    pending.holdForBarrier(List.of(command(8, 10)));
    var d = pending.drain();
    assertEquals(List.of(1L, 2L), ids(d.mayHaveApplied()));
    assertEquals(List.of(3L, 4L, 5L, 6L, 7L, 8L), ids(d.notApplied()).stream().sorted().toList(),
        "a held keep-alive never reached the log, nor did a read held for the next barrier");
    assertTrue(pending.isEmpty());
  }
}
