package dev.kvraft.server.db;

import static org.junit.jupiter.api.Assertions.*;

import com.google.protobuf.ByteString;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/** Where leadership goes when no one is named: {@link Consensus#mostUpToDateFollower}. */
class ConsensusTest {
  private static Consensus leading(List<Consensus.Member> members, List<Consensus.Follower> followers) {
    return new Consensus() {
      @Override public CompletableFuture<?> propose(long callId, ByteString entry) { return null; }
      @Override public CompletableFuture<?> readBarrier(long callId) { return null; }
      @Override public boolean wasAppended(long callId) { return false; }
      @Override public void forget(long callId) { }
      @Override public long term() { return 1; }
      @Override public boolean isLeader() { return true; }
      @Override public Info info() { return Info.UNKNOWN; }
      @Override public List<Member> members() { return members; }
      @Override public List<Follower> followers() { return followers; }
    };
  }

  private static Consensus.Member voter(String id) {
    return new Consensus.Member(id, "", "", true);
  }

  @Test
  void theVoterFurthestAheadThatAnsweredLatelyUnlessLeftOut() {
    var raft = leading(List.of(voter("n1"), voter("n2"), voter("n3"), voter("n4"),
            new Consensus.Member("n5", "", "", false)),
        List.of(new Consensus.Follower("n2", 10, 50), new Consensus.Follower("n3", 12, 50),
            new Consensus.Follower("n4", 20, 5000), new Consensus.Follower("n5", 30, 50),
            new Consensus.Follower("n6", 40, 50)));
    // n4 is silent, n5 a learner, n6 a stray: none of them.
    assertEquals("n3", raft.mostUpToDateFollower(1000).orElseThrow().id());
    assertEquals("n3", raft.mostUpToDateFollower(1000, "").orElseThrow().id());
    assertEquals("n2", raft.mostUpToDateFollower(1000, "n3").orElseThrow().id(), "n3 left out");
    assertTrue(leading(List.of(voter("n1"), voter("n3")), List.of(new Consensus.Follower("n3", 12, 50)))
        .mostUpToDateFollower(1000, "n3").isEmpty(), "no other voter");
  }
}
