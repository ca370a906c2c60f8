package dev.kvraft.server;

import static dev.kvraft.server.testing.Requests.b;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvraft.proto.Error;
import dev.kvraft.proto.MemberChange;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Watch;
import dev.kvraft.server.config.ServerConfig;
import dev.kvraft.server.testing.Await;
import dev.kvraft.server.testing.Nodes;
import dev.kvraft.server.testing.RawClient;
import dev.kvraft.server.testing.Requests;
import dev.kvraft.server.testing.RunningServers;
import dev.kvraft.server.testing.TestNodes;
import dev.kvraft.testkit.FreePorts;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A learner (a Ratis listener) never stands for election, so it keeps its leader's id however long the leader has been
 * gone. A {@code require_leader} watch on a learner cut off from the voters must end all the same, once the leader
 * has not reached it for the bound, or it would stay silent for as long as the cut lasts (found by review: the check
 * read only the leader id). Three real nodes: n1 and n2 vote, n3 is added as a learner and restarted; n1 and n2 then
 * stop.
 */
@Timeout(120)
@Tag("slow") // a three-node cluster: not in bin/test --fast
class LearnerWatchTest {
  private static final Duration WAIT = Duration.ofSeconds(30);
  @RegisterExtension
  final RunningServers servers = new RunningServers();

  @Test
  void aRequireLeaderWatchOnALearnerThatNoLongerHearsItsLeaderEnds(@TempDir Path dir) throws Exception {
    var ports = FreePorts.take(6);
    var members = List.of("n1=127.0.0.1:" + ports.get(0) + ":" + ports.get(1),
        "n2=127.0.0.1:" + ports.get(2) + ":" + ports.get(3), "n3=127.0.0.1:" + ports.get(4) + ":" + ports.get(5));
    var n1 = servers.start(config(dir, members, 1));
    var n2 = servers.start(config(dir, members, 2));
    var leader = Nodes.awaitLeader(WAIT, n1, n2);
    var joined = servers.start(config(dir, members, 3));
    var add = Nodes.call(leader, Request.newBuilder().setId(1).setMemberChange(MemberChange.newBuilder()
        .setAction(MemberChange.Action.ADD).setId("n3").setAddress(members.get(2).split("=")[1]).setLearner(true))
        .build(), WAIT);
    assertFalse(add.hasError(), add.toString());
    // Restarted, it runs as a learner in Ratis too (a node added after --join keeps Ratis's FOLLOWER role until then,
    // with no timer on its leader at all: server/DESIGN.md, "Requiring a leader").
    Nodes.awaitApplied(joined, Nodes.status(leader).getAppliedIndex(), WAIT);
    joined.close();
    servers.remove(joined);
    var n3 = servers.start(config(dir, members, 3));

    try (var c = RawClient.to(n3)) {
      c.socket().setSoTimeout((int) WAIT.toMillis());
      var created = c.call(Request.newBuilder().setId(10).setWatch(Watch.newBuilder().setKey(b("w/"))
          .setRangeEnd(b("w0")).setRequireLeader(true)).build());
      assertTrue(created.getWatch().getCreated(), created.toString());
      // Live while the leader reaches it: a write through the leader arrives as an event.
      var put = Nodes.call(Nodes.awaitLeader(WAIT, n1, n2), Requests.put(11, "w/1", "x"), WAIT);
      assertFalse(put.hasError(), put.toString());
      var event = c.read();
      assertEquals(1, event.getWatch().getEventsCount(), event.toString());

      // The voters go: n3 still answers clients and still names its last leader.
      n1.close();
      n2.close();
      Await.until("n3 to go on naming a leader it no longer hears", WAIT,
          () -> !Nodes.status(n3).getLeaderId().isEmpty());
      var ended = c.read();
      assertEquals(10, ended.getId(), ended.toString());
      assertTrue(ended.getWatch().getCanceled(), ended.toString());
      assertEquals(Error.Code.UNAVAILABLE, ended.getWatch().getCancelCode(), ended.toString());
      assertTrue(ended.getWatch().getCancelReason().contains("node n3 has known no leader for"), ended.toString());
    }
  }

  /** Node i of members, n1 and n2 founding the cluster, n3 joining; short election timeouts. */
  private static ServerConfig config(Path dir, List<String> members, int i) {
    return TestNodes.member(dir, members, i, 2, Map.of());
  }
}
