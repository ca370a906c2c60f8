package dev.kvraft.server;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.kvraft.server.testing.Await;
import dev.kvraft.server.testing.Nodes;
import dev.kvraft.server.testing.RunningServers;
import dev.kvraft.server.testing.TestNodes;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A node stands for election sooner until it first knows a leader ({@code raft.first.election.timeout.*}), so that a
 * new cluster elects sooner; a node restarted into a running cluster must not disturb its leader for that.
 */
@Timeout(120)
class FirstElectionTest {
  private static final Duration WAIT = Duration.ofSeconds(30);

  @RegisterExtension
  final RunningServers servers = new RunningServers();

  @Test
  void aFollowerRestartedIntoARunningClusterDoesNotDisturbItsLeader(@TempDir Path dir) throws Exception {
    // The leader's heartbeats come every 2 s (half the minimum election timeout) and the restarted node stands
    // 100-200 ms after it starts: it asks before the leader tells it of itself. Its pre-vote must be refused, or it
    // would start an election in a new term and depose a leader that was fine.
    for (var c : TestNodes.cluster(dir, 3, Map.of("raft.election.timeout.min.ms", "4000",
        "raft.election.timeout.max.ms", "5000", "raft.first.election.timeout.min.ms", "100",
        "raft.first.election.timeout.max.ms", "200"))) {
      servers.start(c);
    }
    var leader = Nodes.awaitLeader(WAIT, servers.list());
    var leaderId = leader.config().nodeId();
    long term = Nodes.status(leader).getTerm();
    var follower = servers.list().stream().filter(s -> s != leader).findFirst().orElseThrow();
    var config = follower.config();
    follower.close();
    servers.remove(follower);

    var again = servers.start(config);
    Await.until("the restarted " + config.nodeId() + " to know the leader", WAIT,
        () -> Nodes.status(again).getLeaderId(), leaderId::equals);
    var status = Nodes.status(leader);
    assertEquals("LEADER", status.getRole(), "the leader was deposed by the restarted node");
    assertEquals(term, status.getTerm(), "the restarted node started an election in a new term");
    assertEquals(term, Nodes.status(again).getTerm());
  }
}
