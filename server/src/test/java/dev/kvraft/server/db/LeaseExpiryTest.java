package dev.kvraft.server.db;

import static org.junit.jupiter.api.Assertions.*;

import dev.kvraft.proto.LeaseCheckpoint;
import dev.kvraft.proto.LeaseGrant;
import dev.kvraft.proto.LeaseRemaining;
import dev.kvraft.proto.LeaseRevoke;
import dev.kvraft.proto.WriteOp;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The leader's lease expiry alone ({@link Leases#tick}, {@link LeaseExpiries}), on a clock the test moves: leases
 * expire in the order of their deadlines, at most {@link LeaseExpiries#PER_TURN} every 50 ms, renewed ones not, and an
 * expiry proposed and not applied is proposed again after its retry time, not at every turn.
 */
class LeaseExpiryTest {
  private long now = 1_000_000_000L;
  private final KvState state = new KvState();
  private final Leases leases = new Leases(state, Duration.ofSeconds(1), new PendingRequests(), (c, ops) -> { },
      () -> now);
  private final OpApplier apply = leases.around(OpApplier.of(state));
  private final FakeRaft raft = new FakeRaft();
  private final CallIds ids = new CallIds();
  private final Replies replies = new Replies("n1", state);

  private void grant(long id, long ttlSeconds) {
    var r = apply.apply(WriteOp.newBuilder().setLeaseGrant(LeaseGrant.newBuilder().setId(id)
        .setTtlSeconds(ttlSeconds)).build(), KvState.OpListener.NONE);
    assertFalse(r.hasError(), r.toString());
  }

  /** One loop turn on the leader of term 1 (which has applied an entry of its term); the leases it revokes. */
  private List<Long> turn() {
    raft.proposals.clear();
    leases.tick(raft, ids, "n1@test", replies, 1);
    var revoked = new ArrayList<Long>();
    for (var p : raft.proposals) {
      for (var op : p.entry().getOpsList()) {
        if (op.hasLeaseRevoke()) {
          assertTrue(op.getLeaseRevoke().getExpired());
          revoked.add(op.getLeaseRevoke().getId());
        }
      }
    }
    return revoked;
  }

  @Test
  void leasesExpireInTheOrderOfTheirDeadlinesAtMostAThousandATurn() {
    raft.leader = true;
    // 2,500 leases of 5 s granted from last to first, and 10 of a minute.
    for (long id = 2_500; id >= 1; id--) {
      grant(id, 5);
      now += 1_000; // a microsecond apart: lease 2,500 is the first to expire
    }
    for (long id = 10_001; id <= 10_010; id++) {
      grant(id, 60);
    }
    assertEquals(List.of(), turn(), "the new leader's first turn takes the leases over, with a grace");
    now += TimeUnit.SECONDS.toNanos(10);
    var first = turn();
    assertEquals(LeaseExpiries.PER_TURN, first.size(), "one turn proposes at most a thousand expiries");
    assertEquals(2_500, first.getFirst(), "the soonest deadline first");
    assertEquals(1_501, first.getLast());
    now += LeaseExpiries.INTERVAL_NANOS;
    var second = turn();
    assertEquals(1_500, second.getFirst());
    assertEquals(1_000, second.size());
    now += LeaseExpiries.INTERVAL_NANOS;
    var third = turn();
    assertEquals(500, third.size());
    assertEquals(1, third.getLast());
    now += LeaseExpiries.INTERVAL_NANOS;
    assertEquals(List.of(), turn(), "the expiries proposed wait for their apply; the minute leases are not due");

    // Not applied within the retry time: proposed again, a thousand a turn, the first turn's first (due together,
    // in the order of their ids).
    now += TimeUnit.SECONDS.toNanos(2);
    var again = turn();
    assertEquals(LeaseExpiries.PER_TURN, again.size());
    assertEquals(1_501, again.getFirst());
    assertEquals(2_500, again.getLast());
  }

  /** A thousand every 50 ms, so at most 20,000 a second, evenly: busy loop turns do not make a burst of them. */
  @Test
  void expiriesComeAThousandEvery50MillisecondsHoweverOftenTheLoopTurns() {
    raft.leader = true;
    for (long id = 1; id <= 3 * LeaseExpiries.PER_TURN; id++) {
      grant(id, 5);
    }
    assertEquals(List.of(), turn());
    now += TimeUnit.SECONDS.toNanos(10);
    assertEquals(LeaseExpiries.PER_TURN, turn().size());
    for (int busy = 0; busy < 10; busy++) {
      now += LeaseExpiries.INTERVAL_NANOS / 20; // a busy loop's turns, 2.5 ms apart
      assertEquals(List.of(), turn(), "within 50 ms of the last expiries, none");
    }
    now += LeaseExpiries.INTERVAL_NANOS / 2;
    assertEquals(LeaseExpiries.PER_TURN, turn().size(), "50 ms after the last, the next thousand");
  }

  /** Expiries wait their turn (a thousand every 50 ms): meanwhile a lease past its deadline is not renewed. */
  @Test
  void aLeasePastItsDeadlineIsNotRenewedWhileItsExpiryWaitsItsTurn() {
    raft.leader = true;
    grant(1, 5);
    grant(2, 5);
    assertEquals(List.of(), turn(), "the leases taken over");
    now += TimeUnit.SECONDS.toNanos(6);
    var answers = new ArrayList<dev.kvraft.proto.Response>();
    for (long lease : List.of(1L, 2L)) {
      var keepAlive = new Event.Command(dev.kvraft.proto.Request.newBuilder().setId(lease).setLeaseKeepAlive(
          dev.kvraft.proto.LeaseKeepAlive.newBuilder().setId(lease)).build(), answers::add, now + 1,
          RequestTrace.receivedNow("test"));
      var answer = leases.keepAlive(keepAlive, replies);
      assertNotNull(answer, "lease " + lease + " is past its deadline: answered at once, not held for a renewal");
      assertEquals(dev.kvraft.proto.Error.Code.LEASE_NOT_FOUND, answer.getError().getCode(), answer.toString());
    }
    assertEquals(List.of(1L, 2L), turn(), "and they expire at the next turn");
  }

  @Test
  void aLeaseRenewedByACheckpointIsNotExpiredAtItsOldDeadline() {
    raft.leader = true;
    grant(1, 5);
    grant(2, 5);
    assertEquals(List.of(), turn());
    now += TimeUnit.SECONDS.toNanos(4);
    var r = apply.apply(WriteOp.newBuilder().setLeaseCheckpoint(LeaseCheckpoint.newBuilder()
        .addLeases(LeaseRemaining.newBuilder().setId(2).setRemainingMs(5_000))).build(), KvState.OpListener.NONE);
    assertFalse(r.hasError(), r.toString());
    now += TimeUnit.SECONDS.toNanos(2);
    assertEquals(List.of(1L), turn(), "lease 1 is past its deadline, lease 2 was renewed 2 s ago for 5 s");
    var revoked = apply.apply(WriteOp.newBuilder().setLeaseRevoke(LeaseRevoke.newBuilder().setId(1)
        .setExpired(true)).build(), KvState.OpListener.NONE);
    assertFalse(revoked.hasError(), revoked.toString());
    now += TimeUnit.SECONDS.toNanos(4);
    assertEquals(List.of(2L), turn());
  }
}
