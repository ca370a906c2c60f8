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
 * The leader's lease expiry alone ({@link Leases#tick}), on a clock the test moves: leases expire in the order of
 * their deadlines, at most {@link Leases#EXPIRIES_PER_TURN} a turn, renewed ones not, and an expiry proposed and not
 * applied is proposed again after its retry time, not at every turn.
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
    assertEquals(Leases.EXPIRIES_PER_TURN, first.size(), "one turn proposes at most a thousand expiries");
    assertEquals(2_500, first.getFirst(), "the soonest deadline first");
    assertEquals(1_501, first.getLast());
    assertTrue(leases.expiriesWaiting(), "more are due: the loop takes its next turn at once");
    var second = turn();
    assertEquals(1_500, second.getFirst());
    assertEquals(1_000, second.size());
    var third = turn();
    assertEquals(500, third.size());
    assertEquals(1, third.getLast());
    assertFalse(leases.expiriesWaiting());
    assertEquals(List.of(), turn(), "the expiries proposed wait for their apply; the minute leases are not due");

    // Not applied within the retry time: proposed again, a thousand a turn (all were proposed at the same moment,
    // so they are due again together, in the order of their ids).
    now += TimeUnit.SECONDS.toNanos(2);
    var again = turn();
    assertEquals(Leases.EXPIRIES_PER_TURN, again.size());
    assertEquals(1, again.getFirst());
  }

  @Test
  void atMost20000ExpiriesASecondAreProposedHoweverManyAreDue() {
    raft.leader = true;
    int due = Leases.EXPIRIES_PER_SECOND + 5_000;
    for (long id = 1; id <= due; id++) {
      grant(id, 5);
    }
    assertEquals(List.of(), turn());
    now += TimeUnit.SECONDS.toNanos(10);
    int proposed = 0;
    for (int turns = 0; turns < Leases.EXPIRIES_PER_SECOND / Leases.EXPIRIES_PER_TURN; turns++) {
      proposed += turn().size();
    }
    assertEquals(Leases.EXPIRIES_PER_SECOND, proposed);
    assertFalse(leases.expiriesWaiting(), "the second's share is proposed: the loop waits for its next tick");
    assertEquals(List.of(), turn(), "nothing more within the same second");
    now += TimeUnit.SECONDS.toNanos(1);
    assertEquals(Leases.EXPIRIES_PER_TURN, turn().size(), "the next second's");
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
