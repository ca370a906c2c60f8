package dev.kvraft.server.db;

import static org.junit.jupiter.api.Assertions.*;

import dev.kvraft.server.config.ServerConfig;
import dev.kvraft.server.db.FakeLeader.Transfer;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/** The one hand-over: its target, call id and timeout for each reason (the log lines are read, not tested). */
class HandOverTest {
  /** A leader of n1..n3 (plus the learner n4) whose followers are {@code followers}. */
  private static FakeLeader leader(List<Consensus.Follower> followers) {
    return new FakeLeader(List.of(FakeLeader.voter("n1"), FakeLeader.voter("n2"), FakeLeader.voter("n3"),
        new Consensus.Member("n4", "", "", false)), followers);
  }

  private static final ServerConfig CONFIG = ServerConfig.fromMap(Map.of("node.id", "n1",
      "cluster", "n1=127.0.0.1:1:2,n2=127.0.0.1:3:4,n3=127.0.0.1:5:6", "raft.election.timeout.min.ms", "1000",
      "raft.election.timeout.max.ms", "2000"));

  @Test
  void eachReasonHasItsCallIdTimeoutAndTarget() {
    var raft = leader(List.of(new Consensus.Follower("n2", 10, 50), new Consensus.Follower("n3", 12, 50),
        new Consensus.Follower("n4", 20, 50)));
    var handOver = new HandOver(CONFIG, raft);
    handOver.handOver(new HandOver.Reason.Strays(List.of("n9")));
    handOver.handOver(new HandOver.Reason.Strays(List.of("n9")));
    handOver.handOver(new HandOver.Reason.Stop(700));
    handOver.handOverAsync(new HandOver.Reason.Promotion("n3", 42));
    assertEquals(List.of(new Transfer(Long.MAX_VALUE / 4, "n3", 4000), new Transfer(Long.MAX_VALUE / 4 + 1, "n3", 4000),
        new Transfer(Long.MAX_VALUE / 2, "n3", 700), new Transfer(42, "n2", 4000)), raft.transfers);
  }

  @Test
  void noTargetTakesNoCallIdAndAStopWithoutAQuorumStays() {
    var raft = leader(List.of(new Consensus.Follower("n2", 10, 5000), new Consensus.Follower("n3", 12, 5000)));
    var handOver = new HandOver(CONFIG, raft);
    handOver.handOver(new HandOver.Reason.Strays(List.of("n9")));
    handOver.handOver(new HandOver.Reason.Stop(700));
    handOver.handOverAsync(new HandOver.Reason.Promotion("n3", 42));
    assertEquals(List.of(), raft.transfers, "no follower answers");
    // One of two followers answers: with this node gone the others are no quorum, so a stop does not hand over.
    raft.followers = List.of(new Consensus.Follower("n2", 10, 50), new Consensus.Follower("n3", 12, 5000));
    handOver.handOver(new HandOver.Reason.Stop(700));
    assertEquals(List.of(), raft.transfers);
    handOver.handOver(new HandOver.Reason.Strays(List.of("n9")));
    assertEquals(List.of(new Transfer(Long.MAX_VALUE / 4, "n2", 4000)), raft.transfers, "the first id still unused");
  }

  @Test
  void aFailedHandOverIsLoggedNotThrown() {
    var raft = leader(List.of(new Consensus.Follower("n2", 10, 50), new Consensus.Follower("n3", 12, 50)));
    raft.answer = CompletableFuture.failedFuture(new ConsensusException(dev.kvraft.proto.Error.Code.UNAVAILABLE,
        "not now", ""));
    var handOver = new HandOver(CONFIG, raft);
    handOver.handOver(new HandOver.Reason.Stop(700));
    handOver.handOver(new HandOver.Reason.Strays(List.of("n9")));
    handOver.handOverAsync(new HandOver.Reason.Promotion("n2", 7));
    assertEquals(3, raft.transfers.size());
  }
}
