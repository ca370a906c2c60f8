package dev.kvraft.server.db;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.protobuf.ByteString;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/** When the leader tells its followers its commit index at once, and when it leaves that to the next append. */
class CommitNoticeTest {
  private static final long QUIET = CommitNotice.QUIET_NANOS;

  /** Leads or not, and records each push with the future the test completes. */
  private static final class Raft implements Consensus {
    boolean leader = true;
    final List<CompletableFuture<Void>> pushes = new ArrayList<>();

    @Override public CompletableFuture<?> propose(long callId, ByteString entry) { return null; }
    @Override public CompletableFuture<Long> readBarrier(long callId) { return null; }
    @Override public boolean wasAppended(long callId) { return false; }
    @Override public void forget(long callId) { }
    @Override public long term() { return 1; }
    @Override public boolean isLeader() { return leader; }
    @Override public Info info() { return Info.UNKNOWN; }

    @Override
    public CompletableFuture<?> pushCommitIndex(long callId) {
      var f = new CompletableFuture<Void>();
      pushes.add(f);
      return f;
    }
  }

  private long now = 1_000_000_000L;
  private final Raft raft = new Raft();
  private int wakes;
  private final CommitNotice notice = new CommitNotice(new CallIds(), () -> now, () -> wakes++);

  @Test
  void aLoneWriteIsToldOnceWritesHavePausedForTheQuietTime() {
    notice.afterTurn(raft, 10, false);
    notice.afterTurn(raft, 11, false);
    assertEquals(0, raft.pushes.size(), "not before the quiet time");
    assertEquals(QUIET, notice.nanosUntilDue(Long.MAX_VALUE), "the loop wakes when it is due");
    now += QUIET;
    assertEquals(0, notice.nanosUntilDue(Long.MAX_VALUE));
    notice.afterTurn(raft, 11, false);
    assertEquals(1, raft.pushes.size(), "told after the quiet time");
    raft.pushes.getFirst().complete(null);
    now += QUIET;
    notice.afterTurn(raft, 11, false);
    assertEquals(1, raft.pushes.size(), "once: nothing applied since");
    assertEquals(Long.MAX_VALUE, notice.nanosUntilDue(Long.MAX_VALUE), "nothing to wake for");
  }

  @Test
  void notWhileItsOwnWritesAreInFlightOrAppliesKeepComing() {
    notice.afterTurn(raft, 10, false);
    for (long i = 11; i < 20; i++) {
      now += QUIET / 2;
      notice.afterTurn(raft, i, false);
    }
    assertEquals(0, raft.pushes.size(), "each entry's follower learns the last commit from the next append");
    now += QUIET;
    notice.afterTurn(raft, 19, true);
    assertEquals(0, raft.pushes.size(), "a write in flight: its append carries the commit index");
    // Found by review: the loop polled with a zero timeout, turn after turn, until the write applied.
    assertEquals(50, notice.nanosUntilDue(50), "the write's apply wakes the loop: no spinning until then");
    notice.afterTurn(raft, 19, false);
    assertEquals(1, raft.pushes.size());
  }

  @Test
  void oneAtATimeAndTheLatestIndexAfterIt() {
    notice.afterTurn(raft, 10, false);
    notice.afterTurn(raft, 11, false);
    now += QUIET;
    notice.afterTurn(raft, 11, false);
    notice.afterTurn(raft, 12, false);
    now += QUIET;
    notice.afterTurn(raft, 12, false);
    assertEquals(1, raft.pushes.size(), "not while one is in flight");
    assertEquals(50, notice.nanosUntilDue(50), "its completion wakes the loop: no spinning until then");
    raft.pushes.getFirst().completeExceptionally(new IllegalStateException("not leader"));
    assertEquals(1, wakes, "the loop is woken to tell what applied meanwhile");
    notice.afterTurn(raft, 12, false);
    assertEquals(2, raft.pushes.size(), "after it, even a failed one, the newer index is told");
  }

  /**
   * Ratis 3.3.0's round can go unanswered until its next regular heartbeat (500 ms by default) although the heartbeat
   * it asked for went out: a later lone write is told {@code STALLED_NANOS} after the last notice went, not when it is
   * answered; and no more than {@code MAX_IN_FLIGHT} go unanswered.
   */
  @Test
  void aStalledNoticeHoldsBackTheNextOnlyForAWhileAndOnlySoMany() {
    notice.afterTurn(raft, 10, false);
    long index = 11;
    notice.afterTurn(raft, index, false);
    now += QUIET;
    notice.afterTurn(raft, index, false);
    assertEquals(1, raft.pushes.size());
    notice.afterTurn(raft, ++index, false); // a later lone write, while the first notice stays unanswered
    now += QUIET;
    notice.afterTurn(raft, index, false);
    assertEquals(1, raft.pushes.size(), "not before the first has waited the stall time");
    assertEquals(CommitNotice.STALLED_NANOS - QUIET, notice.nanosUntilDue(Long.MAX_VALUE),
        "the loop wakes when the first counts as stalled");
    now += CommitNotice.STALLED_NANOS - QUIET;
    notice.afterTurn(raft, index, false);
    assertEquals(2, raft.pushes.size(), "told although the first is still unanswered");
    for (int i = 2; i < CommitNotice.MAX_IN_FLIGHT + 2; i++) {
      notice.afterTurn(raft, ++index, false);
      now += CommitNotice.STALLED_NANOS;
      notice.afterTurn(raft, index, false);
    }
    assertEquals(CommitNotice.MAX_IN_FLIGHT, raft.pushes.size(), "no more than that many unanswered");
    assertEquals(50, notice.nanosUntilDue(50), "a completion wakes the loop: no spinning until then");
    raft.pushes.getFirst().complete(null);
    notice.afterTurn(raft, index, false);
    assertEquals(CommitNotice.MAX_IN_FLIGHT + 1, raft.pushes.size(), "one answered: under the cap again, the next goes");
  }

  @Test
  void aFollowerTellsNothingAndANewLeaderOnlyWhatAppliesAfterItLeads() {
    raft.leader = false;
    notice.afterTurn(raft, 10, false);
    now += QUIET;
    notice.afterTurn(raft, 11, false);
    now += QUIET;
    notice.afterTurn(raft, 11, false);
    assertEquals(0, raft.pushes.size(), "a follower");
    raft.leader = true;
    now += QUIET;
    notice.afterTurn(raft, 11, false);
    assertEquals(0, raft.pushes.size(), "applied while following: the old leader's to tell");
    notice.afterTurn(raft, 12, false);
    now += QUIET;
    notice.afterTurn(raft, 12, false);
    assertEquals(1, raft.pushes.size(), "applied while leading");
  }
}
