package dev.kvraft.server.db;

import static org.junit.jupiter.api.Assertions.*;

import com.google.protobuf.ByteString;
import dev.kvraft.proto.Error;
import dev.kvraft.proto.LeaseGrant;
import dev.kvraft.proto.LeaseKeepAlive;
import dev.kvraft.proto.LeaseRevoke;
import dev.kvraft.proto.LogEntry;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import dev.kvraft.proto.WriteOp;
import dev.kvraft.server.testing.Requests;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The loop's leases with a fake Raft: grants that pick free ids, keep-alives held for the next checkpoint and
 * answered by its apply, a new leader that waits for an entry of its term, keep-alives with no leader or at shutdown.
 * The leases' clock stands still when a test says so ({@link #leaseClockFrozen}).
 */
@Timeout(30)
class LeasesLoopTest extends LoopTestBase {
  private static boolean revokes(FakeRaft.Proposal p) {
    return p.entry().getOpsList().stream().anyMatch(WriteOp::hasLeaseRevoke);
  }

  private static Request keepAlive(long id, long lease) {
    return Request.newBuilder().setId(id).setLeaseKeepAlive(LeaseKeepAlive.newBuilder().setId(lease)).build();
  }

  private static boolean isCheckpoint(FakeRaft.Proposal p) {
    return p.entry().getOpsCount() > 0 && p.entry().getOps(0).hasLeaseCheckpoint();
  }

  /**
   * On the leader, with lease 7 (the only lease): keep-alive 1 is checkpointed at once, which starts the 100 ms
   * window in which keep-alive 2 is held for the next checkpoint. The leases' clock stands still, so the window
   * stays open until the test moves it ({@link #nextCheckpointTime}). Returns once 2 is held (checkpoint 1 is never
   * applied: keep-alive 1 stays pending too). Both keep-alives have 10 s deadlines.
   */
  private void holdASecondKeepAlive() throws Exception {
    leaseNanos = System.nanoTime();
    leaseClockFrozen = true;
    raft.leader = true;
    start();
    applyForeign(WriteOp.newBuilder().setLeaseGrant(LeaseGrant.newBuilder().setId(7).setTtlSeconds(30)).build());
    submit(keepAlive(1, 7), TimeUnit.SECONDS.toNanos(10));
    var first = next(raft.proposals, "proposal");
    while (!isCheckpoint(first)) {
      first = next(raft.proposals, "checkpoint proposal");
    }
    submit(keepAlive(2, 7), TimeUnit.SECONDS.toNanos(10));
    // Published at the end of the turn that took keep-alive 2, after that turn's lease tick.
    dev.kvraft.server.testing.Await.until("keep-alive 2 taken", java.time.Duration.ofSeconds(5),
        loop::inFlightCommands, n -> n == 2);
    assertTrue(raft.proposals.stream().noneMatch(LeasesLoopTest::isCheckpoint),
        "keep-alive 2 is held for the next checkpoint, not proposed: the window is still open");
  }

  /** Moves the leases' (frozen) clock to the next checkpoint time: the loop's next turn checkpoints what it holds. */
  private void nextCheckpointTime() {
    leaseNanos += Leases.CHECKPOINT_NANOS;
  }

  /** On the leader: submits a grant of lease {@code lease} (0: pick one), applies its entry, returns the answer. */
  private Response grant(long requestId, long lease) throws Exception {
    submit(Request.newBuilder().setId(requestId).setLeaseGrant(LeaseGrant.newBuilder().setId(lease)
        .setTtlSeconds(60)).build());
    var p = nextWithOps();
    p.result().complete(null);
    apply(p.entry());
    var r = answer();
    assertEquals(requestId, r.getId());
    return r;
  }

  @Test
  void grantsThatNameNoIdGetFreeOnesEvenAfterAClientTookTheHighestIds() throws Exception {
    raft.leader = true;
    start();
    // One below the highest: the next id one above it is the highest there is, and the one after that overflows.
    assertEquals(Long.MAX_VALUE - 1, grant(1, Long.MAX_VALUE - 1).getLeaseGrant().getId());
    var picked = grant(2, 0);
    assertFalse(picked.hasError(), "a grant naming no id must not collide with the client's: " + picked);
    long first = picked.getLeaseGrant().getId();
    var next = grant(3, 0);
    assertFalse(next.hasError(), next.toString());
    assertTrue(first > 0 && next.getLeaseGrant().getId() > 0 && first != next.getLeaseGrant().getId(),
        "two fresh, distinct positive ids: " + first + ", " + next.getLeaseGrant().getId());
  }

  @Test
  void withNoLeaderAKeepAliveIsRetriedLikeAWriteAndTheLoopServesOn() throws Exception {
    // Found by the robustness suite: a retried keep-alive went to the read path, and the loop died of it.
    start();
    submit(Request.newBuilder().setId(1).setLeaseKeepAlive(dev.kvraft.proto.LeaseKeepAlive.newBuilder().setId(7))
        .build());
    // No leader: it waits for a retry. Then this node leads, and the retry reaches it as a keep-alive.
    Thread.sleep(150); // past the first retry, which still finds no leader
    applyForeign(WriteOp.newBuilder().setPut(dev.kvraft.proto.Put.newBuilder().setKey(ByteString.copyFromUtf8("b")))
        .build());
    raft.leader = true; // and has applied an entry of its term (1), so it may say the lease does not exist
    var r = answer();
    assertEquals(Error.Code.LEASE_NOT_FOUND, r.getError().getCode(), r.toString());
    assertTrue(raft.barriers.isEmpty(), "a keep-alive takes no read barrier");
    submit(Requests.put(2, "a", "1"));
    var proposal = nextWithOps();
    assertTrue(proposal.entry().getOps(0).hasPut(), "the loop still proposes writes");
  }

  /**
   * Found by review: Ratis makes a node leader before it has applied what its predecessor committed, which it applies
   * once an entry of its own term commits. Until then the last renewals and grants acknowledged may be in its log but
   * not applied here: it neither expires a lease whose deadline looks past nor says a lease it has not yet applied
   * does not exist (the client would be told its lease, or its lock, was lost).
   */
  @Test
  void aNewLeaderNeitherExpiresNorDeniesALeaseBeforeItAppliesAnEntryOfItsTerm() throws Exception {
    leaseNanos = System.nanoTime();
    leaseClockFrozen = true;
    start();
    applyForeign(WriteOp.newBuilder().setLeaseGrant(LeaseGrant.newBuilder().setId(7).setTtlSeconds(30)).build());
    // Elected in term 2; lease 7's renewals and lease 8's grant are in entries it has not applied yet.
    raft.term = 2;
    raft.leader = true;
    leaseNanos += TimeUnit.SECONDS.toNanos(60);
    submit(keepAlive(1, 8), TimeUnit.SECONDS.toNanos(10));
    aWholeLoopTurn(100);
    leaseNanos += TimeUnit.SECONDS.toNanos(1); // past the grace a leader gives at its start
    aWholeLoopTurn(102);
    assertTrue(raft.proposals.stream().noneMatch(LeasesLoopTest::revokes), "nothing expired: " + raft.proposals);
    assertTrue(answers.isEmpty(), "keep-alive 1 waits, not answered LEASE_NOT_FOUND: " + answers);

    // The predecessor's entries apply (the grant of lease 8), then one of term 2: now it leads for leases.
    apply(1, LogEntry.newBuilder().setProposer("n2@x").setProposalId(index)
        .addOps(WriteOp.newBuilder().setLeaseGrant(LeaseGrant.newBuilder().setId(8).setTtlSeconds(30))).build());
    apply(2, LogEntry.newBuilder().setProposer("n1@x").setProposalId(index).build());
    var checkpoint = next(raft.proposals, "checkpoint proposal");
    while (!isCheckpoint(checkpoint)) {
      checkpoint = next(raft.proposals, "checkpoint proposal");
    }
    assertEquals(8, checkpoint.entry().getOps(0).getLeaseCheckpoint().getLeases(0).getId(),
        "keep-alive 1 renews lease 8");
    assertTrue(raft.proposals.stream().noneMatch(LeasesLoopTest::revokes), "lease 7 got the grace first");
  }

  @Test
  void aKeepAliveHeldWhenTheLastLeaseIsRevokedIsAnsweredLeaseNotFound() throws Exception {
    // Found by review: with no lease left, the leader's lease tick returned before its checkpoint, so a keep-alive
    // held for it was never answered, not even at its deadline, and kept its connection's slot.
    holdASecondKeepAlive();
    applyForeign(WriteOp.newBuilder().setLeaseRevoke(LeaseRevoke.newBuilder().setId(7)).build());
    assertTrue(answers.isEmpty(), "the revoke itself answers no keep-alive: " + answers);
    // Keep-alive 2 is answered at the next checkpoint time, before its deadline (and keep-alive 1's, whose
    // checkpoint is never applied), without a checkpoint of its own: its lease is gone.
    nextCheckpointTime();
    var r = answer();
    assertEquals(2, r.getId(), r.toString());
    assertEquals(Error.Code.LEASE_NOT_FOUND, r.getError().getCode(), r.toString());
    assertTrue(raft.proposals.stream().noneMatch(LeasesLoopTest::isCheckpoint), "no checkpoint for a gone lease");
  }

  @Test
  void shutdownAnswersAKeepAliveHeldForTheNextCheckpoint() throws Exception {
    holdASecondKeepAlive();
    loop.close();
    var byId = new java.util.HashMap<Long, Response>();
    for (int i = 0; i < 2; i++) {
      var r = answer();
      byId.put(r.getId(), r);
    }
    assertEquals(Error.Code.TIMEOUT, byId.get(1L).getError().getCode(), "proposed: it may have been applied");
    assertEquals(Error.Code.UNAVAILABLE, byId.get(2L).getError().getCode(), "held: it never reached the log");
  }
}
