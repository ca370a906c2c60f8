package dev.kvraft.server.process;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvraft.proto.Status;
import dev.kvraft.server.testing.Await;
import dev.kvraft.server.testing.Nodes;
import dev.kvraft.server.testing.Requests;
import dev.kvraft.server.testing.RunningServers;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A learner added after starting with --join runs, until it restarts, with Ratis's FOLLOWER role. Once a leader
 * elected after the add has written to it, it has a follower timer; when that leader goes quiet it stands for
 * election, and Ratis 3.3.0's election ends NOT_IN_CONF (it counts voters only), closes the node and tells the state
 * machine {@code notifyServerShutdown(allServer=false)}, the same notice a removed node gets. It is still a learner
 * of its own configuration, so it must exit 1 (systemd restarts it, and it comes back as a learner), not take the
 * removal path's exit 0 (which leaves it down for good); without the learnerInOwnConfiguration check in
 * RaftNode.closedAsNonMember it exited 0. n1–n3 vote, in this JVM; n4 joins as a learner in its own process (its
 * halt(1) must not end the test JVM).
 */
@Timeout(180)
@Tag("slow") // processes: not in bin/test --fast
class JoinedLearnerElectionTest {
  private static final Duration WAIT = Duration.ofSeconds(20);

  @TempDir
  Path dir;
  @RegisterExtension
  final RunningServers voters = new RunningServers();

  @Test
  void aJoinedLearnerClosedByItsOwnElectionExitsOneNotAsRemoved() throws Exception {
    // Ratis's INFO lines of its election (kvraft keeps Ratis at WARN), to see how the election ended.
    var ratisElection = Map.of("JAVA_TOOL_OPTIONS", "-Dkvraft.log.level.org.apache.ratis.server.impl.LeaderElection=info"
        + " -Dkvraft.log.level.org.apache.ratis.server.impl.FollowerState=info");
    var cluster = JoinedLearner.start(dir, voters, ratisElection, WAIT);
    int n4Port = cluster.joinedPort();
    var first = cluster.leader();
    try (var n4 = cluster.joined()) {
      // The leader that added n4 marks it caught up only if it were a voter, so its appends say "initializing" and
      // n4 gets no follower timer from them. A leader elected after the add starts caught up: the first leader stops
      // (handing over), and a write through the next one reaches n4.
      first.close();
      voters.remove(first);
      var next = Nodes.awaitLeader(WAIT, voters.list());
      var put = Nodes.call(next, Requests.put(2, "k", "v"), WAIT);
      assertFalse(put.hasError(), put.toString());
      long written = Nodes.status(next).getAppliedIndex();
      var firstId = first.config().nodeId();
      var seen = Await.until("n4 to apply index " + written + " from a leader after " + firstId, WAIT,
          () -> Nodes.status(n4Port), s -> s.getAppliedIndex() >= written && !s.getLeaderId().isEmpty()
              && !s.getLeaderId().equals(firstId));
      // Ratis's role, as Status reports it: a learner restarted would say LISTENER and never stand.
      assertEquals("FOLLOWER", seen.getRole(), seen.toString());

      // The voters stop: n4 hears from no leader, its timer fires, and it stands for election.
      for (var v : List.copyOf(voters.list())) {
        v.close();
        voters.remove(v);
      }
      assertTrue(n4.process().waitFor(WAIT.toSeconds(), TimeUnit.SECONDS), "n4 is still running; log:\n" + n4.log());
      var log = n4.log();
      assertTrue(log.contains("-FollowerState: change to CANDIDATE"), "n4 did not stand for election; log:\n" + log);
      assertTrue(log.contains("result NOT_IN_CONF"), "n4's election did not end NOT_IN_CONF; log:\n" + log);
      assertEquals(1, n4.process().exitValue(), "exit code (1: a failure, restarted by systemd); log:\n" + log);
      assertTrue(log.contains("node n4: Raft stopped working"), log);
      assertFalse(log.contains("was removed from the cluster"), log);
    }
  }
}
