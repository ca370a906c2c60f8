package dev.kvraft.server.raft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvraft.proto.Error;
import org.junit.jupiter.api.Test;

class RaftNodeTest {
  /**
   * A membership change this node stopped waiting for goes on in Raft (a slow catch-up of the new node is not a
   * failure to Ratis) and may commit later: the operator is told to look, not that nothing changed, and how to finish
   * an ADD that stopped at its learner step.
   */
  @Test
  void aMembershipChangeThatTimedOutSaysItMayStillCommitAndWhatToDo() {
    var e = RaftNode.changeTimedOut(5000);
    assertEquals(Error.Code.TIMEOUT, e.code());
    assertFalse(e.getMessage().contains("unchanged"), e.getMessage());
    assertTrue(e.getMessage().contains("may still commit") && e.getMessage().contains("member list")
        && e.getMessage().contains("member promote"), e.getMessage());
  }
}
