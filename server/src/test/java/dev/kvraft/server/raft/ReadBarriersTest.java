package dev.kvraft.server.raft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.apache.ratis.proto.RaftProtos.RaftClientRequestProto.TypeCase;
import org.apache.ratis.protocol.Message;
import org.apache.ratis.protocol.RaftClientReply;
import org.junit.jupiter.api.Test;

/**
 * Which read barrier goes to Ratis: an empty entry, except on a group's only voter (Ratis 3.3.0's read-index round is
 * not always a check and can wait half an election timeout: see ReadBarriers); the commit notice's round is a round;
 * and an empty entry's call id is forgotten once it completed, or the state machine's set of appended call ids grew by
 * one per such barrier for as long as the node led.
 */
class ReadBarriersTest {
  record Submitted(long callId, boolean write, CompletableFuture<RaftClientReply> reply) {}

  private final List<Submitted> submitted = new ArrayList<>();
  private final List<Long> forgotten = new ArrayList<>();
  private boolean soleVoter;
  private final ReadBarriers barriers = new ReadBarriers((callId, message, type) -> {
    assertEquals(Message.EMPTY, message);
    var f = new CompletableFuture<RaftClientReply>();
    submitted.add(new Submitted(callId, type.is(TypeCase.WRITE), f));
    return f;
  }, () -> soleVoter, forgotten::add);

  @Test
  void everyBarrierIsAnEmptyEntryAndTheCommitNoticeARound() {
    barriers.barrier(1);
    barriers.barrier(2);
    barriers.round(3);
    barriers.barrier(4);
    assertEquals(List.of(true, true, false, true), submitted.stream().map(Submitted::write).toList());
  }

  @Test
  void aGroupsOnlyVoterNeverWritesAnEntry() {
    soleVoter = true;
    barriers.barrier(1);
    barriers.barrier(2);
    assertTrue(submitted.stream().noneMatch(Submitted::write));
  }

  @Test
  void anEmptyEntrysCallIdIsForgottenWhenItCompletesAndOnlyCommittedOnesAreCounted() {
    barriers.round(1);
    barriers.barrier(2);
    barriers.barrier(3);
    assertEquals(List.of(), forgotten, "not before it completes");
    submitted.get(1).reply().complete(null);
    submitted.get(2).reply().completeExceptionally(new RuntimeException("not leader"));
    submitted.get(0).reply().complete(null);
    assertEquals(List.of(2L, 3L), forgotten, "both empty entries' ids, whatever the outcome; never the round's");
    assertEquals(1, barriers.emptyEntries(), "only the entry that committed counts");
  }
}
