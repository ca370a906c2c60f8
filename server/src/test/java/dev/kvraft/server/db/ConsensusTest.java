package dev.kvraft.server.db;

import static dev.kvraft.server.db.FakeLeader.voter;
import static org.junit.jupiter.api.Assertions.*;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Where leadership goes when no one is named: {@link Consensus#mostUpToDateFollower}. */
class ConsensusTest {
  @Test
  void theVoterFurthestAheadThatAnsweredLatelyUnlessLeftOut() {
    var raft = new FakeLeader(List.of(voter("n1"), voter("n2"), voter("n3"), voter("n4"),
            new Consensus.Member("n5", "", "", false)),
        List.of(new Consensus.Follower("n2", 10, 50), new Consensus.Follower("n3", 12, 50),
            new Consensus.Follower("n4", 20, 5000), new Consensus.Follower("n5", 30, 50),
            new Consensus.Follower("n6", 40, 50)));
    // n4 is silent, n5 a learner, n6 a stray: none of them.
    assertEquals("n3", raft.mostUpToDateFollower(1000).orElseThrow().id());
    assertEquals("n3", raft.mostUpToDateFollower(1000, "").orElseThrow().id());
    assertEquals("n2", raft.mostUpToDateFollower(1000, "n3").orElseThrow().id(), "n3 left out");
    assertTrue(new FakeLeader(List.of(voter("n1"), voter("n3")), List.of(new Consensus.Follower("n3", 12, 50)))
        .mostUpToDateFollower(1000, "n3").isEmpty(), "no other voter");
  }
}
