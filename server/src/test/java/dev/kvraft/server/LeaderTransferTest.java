package dev.kvraft.server;

import static org.junit.jupiter.api.Assertions.*;

import dev.kvraft.proto.Error;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import dev.kvraft.proto.TransferLeader;
import dev.kvraft.server.testing.Nodes;
import dev.kvraft.server.testing.RawClient;
import dev.kvraft.server.testing.Requests;
import dev.kvraft.server.testing.RunningServers;
import dev.kvraft.server.testing.TestNodes;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** TransferLeader on a real three-node cluster (issue #18's leader transfer, like etcd's move-leader). */
@Timeout(120)
class LeaderTransferTest {
  private static final Duration WAIT = Duration.ofSeconds(30);
  @RegisterExtension
  final RunningServers servers = new RunningServers();

  private static Response transfer(KvraftServer to, String target) throws Exception {
    try (var c = new RawClient(to.clientPort())) {
      return c.call(Request.newBuilder().setId(1).setTransferLeader(TransferLeader.newBuilder().setTarget(target))
          .build());
    }
  }

  private static String id(KvraftServer s) {
    return s.config().nodeId();
  }

  @Test
  void leadershipMovesWhereAskedAndWritesInFlightAreNotFailed(@TempDir Path dir) throws Exception {
    for (var c : TestNodes.cluster(dir, 3, Map.of())) {
      servers.start(c);
    }
    var leader = Nodes.awaitLeader(WAIT, servers.list());
    var followers = servers.list().stream().filter(s -> s != leader).toList();
    var target = followers.get(0);
    var writer = followers.get(1);

    // A follower does not transfer: it says where the leader is (once it has heard from it).
    dev.kvraft.server.testing.Await.until("the followers to know the leader", WAIT,
        () -> followers.stream().allMatch(f -> {
          try {
            return Nodes.status(f).getLeaderId().equals(id(leader));
          } catch (java.io.IOException e) {
            return false;
          }
        }));
    var notHere = transfer(target, id(target));
    assertEquals(Error.Code.UNAVAILABLE, notHere.getError().getCode());
    assertEquals(leader.config().self().clientAddress(), notHere.getError().getLeaderAddress());
    assertEquals(Error.Code.INVALID_ARGUMENT, transfer(leader, "n9").getError().getCode(), "not a member");

    // Writes keep going through the third node while leadership moves; none of them fails.
    var failed = new AtomicInteger();
    var done = new AtomicInteger();
    var load = Thread.ofVirtual().start(() -> {
      try (var c = new RawClient(writer.clientPort())) {
        for (int i = 0; i < 300; i++) {
          var r = c.call(Requests.put(i + 1, "moving/" + (i % 20), "v" + i));
          (r.hasError() ? failed : done).incrementAndGet();
        }
      } catch (Exception e) {
        failed.incrementAndGet();
      }
    });
    // A leader elected a moment ago may not be ready for a transfer yet: UNAVAILABLE, which clients retry.
    var moved = dev.kvraft.server.testing.Await.until("the transfer is taken", WAIT, () -> transfer(leader, id(target)),
        r -> !r.hasError() || r.getError().getCode() != Error.Code.UNAVAILABLE);
    assertFalse(moved.hasError(), moved.toString());
    assertEquals(id(target), moved.getTransferLeader().getLeaderId());
    assertSame(target, Nodes.awaitLeader(WAIT, target), "the target leads");
    load.join(WAIT.toMillis());
    assertEquals(0, failed.get(), "no write failed during the transfer");
    assertEquals(300, done.get());

    // With no target, the most up-to-date follower takes over.
    var again = dev.kvraft.server.testing.Await.until("the second transfer is taken", WAIT, () -> transfer(target, ""),
        r -> !r.hasError() || r.getError().getCode() != Error.Code.UNAVAILABLE);
    assertFalse(again.hasError(), again.toString());
    assertNotEquals(id(target), again.getTransferLeader().getLeaderId());
  }

  @Test
  void aLeaderThatStopsGracefullyHandsOverFirst(@TempDir Path dir) throws Exception {
    // Election timeouts of 4-5 s: longer than the whole stop, so without a hand-over no survivor could lead yet.
    for (var c : TestNodes.cluster(dir, 3, Map.of("raft.election.timeout.min.ms", "4000",
        "raft.election.timeout.max.ms", "5000"))) {
      servers.start(c);
    }
    var leader = Nodes.awaitLeader(WAIT, servers.list());
    assertFalse(Nodes.call(leader, Requests.put(1, "k", "v"), WAIT).hasError());
    long t0 = System.nanoTime();
    leader.close();
    servers.remove(leader);
    assertTrue(System.nanoTime() - t0 < Duration.ofSeconds(4).toNanos(), "the stop took less than an election timeout");
    // The hand-over completed inside close(): a survivor leads already, before any election timeout could pass.
    var leaders = new ArrayList<String>();
    for (var s : servers.list()) {
      if (Nodes.status(s).getRole().equals("LEADER")) {
        leaders.add(id(s));
      }
    }
    assertEquals(1, leaders.size(), "a survivor leads the moment the old leader has stopped: " + leaders);
  }

  @Test
  void aLeaderWhoseFollowersAreNoQuorumWithoutItDoesNotHandOver(@TempDir Path dir) throws Exception {
    for (var c : TestNodes.cluster(dir, 3, Map.of())) {
      servers.start(c);
    }
    var leader = Nodes.awaitLeader(WAIT, servers.list());
    var followers = servers.list().stream().filter(s -> s != leader).toList();
    followers.get(0).close();
    servers.remove(followers.get(0));
    var survivor = followers.get(1);
    // The leader counts a follower as answering for one election timeout (300 ms here) after its last reply; no
    // status shows that, so wait it out, twice over.
    Thread.sleep(600);
    leader.close();
    servers.remove(leader);
    // Alone, the survivor can only lead if it was handed leadership (no quorum to elect it): it was not.
    assertNotEquals("LEADER", Nodes.status(survivor).getRole(), "leadership was handed to a node without a quorum");
  }
}
