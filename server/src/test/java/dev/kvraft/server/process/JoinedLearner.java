package dev.kvraft.server.process;

import static org.junit.jupiter.api.Assertions.assertFalse;

import dev.kvraft.proto.MemberChange;
import dev.kvraft.proto.Request;
import dev.kvraft.server.KvraftServer;
import dev.kvraft.server.testing.Nodes;
import dev.kvraft.server.testing.RunningServers;
import dev.kvraft.server.testing.TestNodes;
import dev.kvraft.testkit.FreePorts;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Map;

/**
 * The joined-learner tests' cluster: n1–n{@code founders} vote, in this JVM (kept by the test's
 * {@link RunningServers}); the next node, {@link #joinedId}, runs in a process of its own (its halt must not end the
 * test JVM), started with {@code --join} and added as a learner by the first leader. The test owns {@link #joined}
 * and closes it; a failure while setting up closes it here.
 */
record JoinedLearner(ServerProcess joined, int joinedPort, String joinedId, String joinedAddress,
    KvraftServer leader) {

  /** Three voters, n1–n3, and n4 added as a learner; {@code joinedEnv} is added to n4's environment. */
  static JoinedLearner start(Path dir, RunningServers voters, Map<String, String> joinedEnv, Duration wait)
      throws Exception {
    return start(dir, voters, 3, joinedEnv, wait);
  }

  /**
   * {@code founders} voters, n1–n{@code founders}, and the next node added as a learner; {@code joinedEnv} is added to
   * its environment.
   */
  static JoinedLearner start(Path dir, RunningServers voters, int founders, Map<String, String> joinedEnv,
      Duration wait) throws Exception {
    int n = founders + 1;
    var ports = FreePorts.take(2 * n);
    var members = new ArrayList<String>();
    for (int i = 0; i < n; i++) {
      members.add("n" + (i + 1) + "=127.0.0.1:" + ports.get(2 * i) + ":" + ports.get(2 * i + 1));
    }
    var joinedId = "n" + n;
    var joinedAddress = members.get(n - 1).split("=")[1];
    var args = new ArrayList<>(TestNodes.args(TestNodes.member(dir, members, n, founders, Map.of())));
    args.add("--join"); // TestNodes.args leaves it out
    int joinedPort = ports.get(2 * (n - 1));
    var joined = new ServerProcess(args, dir.resolve(joinedId + ".log"), joinedPort, joinedEnv).start();
    try {
      for (int i = 1; i <= founders; i++) {
        // Ratis stages the new node for half of request.timeout.ms: 10 s, room for a fresh JVM on a loaded machine.
        voters.start(TestNodes.member(dir, members, i, founders, Map.of("request.timeout.ms", "20000")));
      }
      joined.awaitServing(wait);
      var leader = Nodes.awaitLeader(wait, voters.list());
      var add = Nodes.call(leader, Request.newBuilder().setId(1).setMemberChange(MemberChange.newBuilder()
          .setAction(MemberChange.Action.ADD).setId(joinedId).setAddress(joinedAddress).setLearner(true))
          .build(), wait);
      assertFalse(add.hasError(), add.toString());
      return new JoinedLearner(joined, joinedPort, joinedId, joinedAddress, leader);
    } catch (Throwable t) {
      joined.close();
      throw t;
    }
  }
}
