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
 * The joined-learner tests' cluster: n1–n3 vote, in this JVM (kept by the test's {@link RunningServers}); n4 runs in
 * a process of its own (its halt must not end the test JVM), started with {@code --join} and added as a learner by
 * the first leader. The test owns {@link #n4} and closes it; a failure while setting up closes it here.
 */
record JoinedLearner(ServerProcess n4, int n4Port, KvraftServer leader) {

  /** Starts the four nodes and adds n4 as a learner; {@code n4Env} is added to n4's environment. */
  static JoinedLearner start(Path dir, RunningServers voters, Map<String, String> n4Env, Duration wait)
      throws Exception {
    var ports = FreePorts.take(8);
    var members = new ArrayList<String>();
    for (int i = 0; i < 4; i++) {
      members.add("n" + (i + 1) + "=127.0.0.1:" + ports.get(2 * i) + ":" + ports.get(2 * i + 1));
    }
    var n4Args = new ArrayList<>(TestNodes.args(TestNodes.member(dir, members, 4, 3, Map.of())));
    n4Args.add("--join"); // TestNodes.args leaves it out
    int n4Port = ports.get(6);
    var n4 = new ServerProcess(n4Args, dir.resolve("n4.log"), n4Port, n4Env).start();
    try {
      for (int i = 1; i <= 3; i++) {
        // Ratis stages n4 for half of request.timeout.ms: 10 s, room for a fresh JVM on a loaded machine.
        voters.start(TestNodes.member(dir, members, i, 3, Map.of("request.timeout.ms", "20000")));
      }
      n4.awaitServing(wait);
      var leader = Nodes.awaitLeader(wait, voters.list());
      var add = Nodes.call(leader, Request.newBuilder().setId(1).setMemberChange(MemberChange.newBuilder()
          .setAction(MemberChange.Action.ADD).setId("n4").setAddress(members.get(3).split("=")[1]).setLearner(true))
          .build(), wait);
      assertFalse(add.hasError(), add.toString());
      return new JoinedLearner(n4, n4Port, leader);
    } catch (Throwable t) {
      n4.close();
      throw t;
    }
  }
}
