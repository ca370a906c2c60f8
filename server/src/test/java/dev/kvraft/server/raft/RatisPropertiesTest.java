package dev.kvraft.server.raft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvraft.server.config.ServerConfig;
import java.util.concurrent.TimeUnit;
import org.apache.ratis.server.RaftServerConfigKeys;
import org.junit.jupiter.api.Test;

/** What kvraft's settings become in Ratis's properties. */
class RatisPropertiesTest {
  @Test
  void theFirstElectionTimeoutReachesRatisAndPreVoteStaysOn() {
    var p = RatisProperties.of(ServerConfig.fromArgs());
    assertEquals(1000, RaftServerConfigKeys.Rpc.timeoutMin(p).toLong(TimeUnit.MILLISECONDS));
    assertEquals(2000, RaftServerConfigKeys.Rpc.timeoutMax(p).toLong(TimeUnit.MILLISECONDS));
    assertEquals(200, RaftServerConfigKeys.Rpc.firstElectionTimeoutMin(p).toLong(TimeUnit.MILLISECONDS));
    assertEquals(400, RaftServerConfigKeys.Rpc.firstElectionTimeoutMax(p).toLong(TimeUnit.MILLISECONDS));
    // A node that stands this soon after it starts must not disturb a running leader: only a pre-vote can tell.
    assertTrue(RaftServerConfigKeys.LeaderElection.preVote(p));
  }
}
