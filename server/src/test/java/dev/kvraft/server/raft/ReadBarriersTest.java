package dev.kvraft.server.raft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.ratis.proto.RaftProtos.RaftClientRequestProto.TypeCase;
import org.apache.ratis.protocol.Message;
import org.apache.ratis.protocol.RaftClientReply;
import org.junit.jupiter.api.Test;

/**
 * Which read barrier goes to Ratis: a read-index round only when the commit index has passed every index an earlier
 * round of ours may have been keyed at (Ratis 3.3.0 answers a round at or below the highest confirmed one with no
 * check at all), else an empty entry; and an empty entry's call id is forgotten once it completed, or the state
 * machine's set of appended call ids grew by one per such barrier for as long as the node led.
 */
class ReadBarriersTest {
  record Submitted(long callId, boolean write, CompletableFuture<RaftClientReply> reply) {}

  private final List<Submitted> submitted = new ArrayList<>();
  private final List<Long> forgotten = new ArrayList<>();
  private final AtomicLong commit = new AtomicLong(10);
  private boolean soleVoter;
  private final ReadBarriers barriers = new ReadBarriers((callId, message, type) -> {
    assertEquals(Message.EMPTY, message);
    var f = new CompletableFuture<RaftClientReply>();
    submitted.add(new Submitted(callId, type.is(TypeCase.WRITE), f));
    return f;
  }, () -> soleVoter, forgotten::add);

  @Test
  void aRoundWhileNothingCommittedSinceTheLastIsAnEmptyEntryInstead() {
    barriers.barrier(commit::get, 1);
    assertEquals(false, submitted.getLast().write(), "the first barrier at index 10 is a read-index round");
    barriers.barrier(commit::get, 2);
    assertEquals(true, submitted.getLast().write(), "nothing committed since: Ratis would answer with no check");
    commit.set(11);
    barriers.barrier(commit::get, 3);
    assertEquals(false, submitted.getLast().write(), "the commit index moved past the bound: a fresh round");
    barriers.barrier(commit::get, 4);
    assertEquals(true, submitted.getLast().write());
  }

  @Test
  void theCommitNoticesRoundMovesTheBoundToo() {
    barriers.round(commit::get, 1);
    barriers.barrier(commit::get, 2);
    assertEquals(true, submitted.getLast().write(), "a read after the notice's round at the same index");
  }

  @Test
  void aGroupsOnlyVoterNeverWritesAnEntry() {
    soleVoter = true;
    barriers.barrier(commit::get, 1);
    barriers.barrier(commit::get, 2);
    assertTrue(submitted.stream().noneMatch(Submitted::write));
  }

  @Test
  void anEmptyEntrysCallIdIsForgottenWhenItCompletesAndOnlyCommittedOnesAreCounted() {
    barriers.barrier(commit::get, 1);
    barriers.barrier(commit::get, 2);
    barriers.barrier(commit::get, 3);
    assertEquals(List.of(), forgotten, "not before it completes");
    submitted.get(1).reply().complete(null);
    submitted.get(2).reply().completeExceptionally(new RuntimeException("not leader"));
    submitted.get(0).reply().complete(null);
    assertEquals(List.of(2L, 3L), forgotten, "both empty entries' ids, whatever the outcome; never the round's");
    assertEquals(1, barriers.emptyEntries(), "only the entry that committed counts");
  }
}
