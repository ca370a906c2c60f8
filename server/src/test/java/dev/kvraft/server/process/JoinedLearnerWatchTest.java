package dev.kvraft.server.process;

import static dev.kvraft.server.testing.Requests.b;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvraft.proto.Error;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import dev.kvraft.proto.Watch;
import dev.kvraft.server.testing.Await;
import dev.kvraft.server.testing.Nodes;
import dev.kvraft.server.testing.RawClient;
import dev.kvraft.server.testing.Requests;
import dev.kvraft.server.testing.RunningServers;
import dev.kvraft.server.testing.TestNodes;
import java.net.SocketTimeoutException;
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
 * A learner added after starting with --join runs, until it restarts, with Ratis's FOLLOWER role, and while the leader
 * that added it leads, with no follower timer: Ratis's role info then reports its leader's last contact as 0 ms ago,
 * and it never stands for election. A {@code require_leader} watch on it must still end once that leader stops
 * reaching it; before RaftNode.leaderKnown counted the appendEntries Ratis handled, it stayed open and silent. n1–n3
 * vote, in this JVM; n4 joins as a learner in its own process (an election's halt(1) must not end the test JVM). The
 * leader does not change between the add and the cut.
 */
@Timeout(120)
@Tag("slow") // processes: not in bin/test --fast
class JoinedLearnerWatchTest {
  private static final Duration WAIT = Duration.ofSeconds(20);
  /** raft.election.timeout.max.ms in TestNodes. */
  private static final long ELECTION_MAX_MS = 600;

  @TempDir
  Path dir;
  @RegisterExtension
  final RunningServers voters = new RunningServers();

  @Test
  void aRequireLeaderWatchOnAJoinedLearnerEndsOnceItsLeaderStopsReachingIt() throws Exception {
    var cluster = JoinedLearner.start(dir, voters, Map.of(), WAIT);
    int n4Port = cluster.joinedPort();
    var leader = cluster.leader();
    try (var n4 = cluster.joined()) {
      long added = Nodes.status(leader).getAppliedIndex();
      var leaderId = leader.config().nodeId();
      var seen = Await.until("n4 to apply index " + added + " under " + leaderId, WAIT, () -> Nodes.status(n4Port),
          s -> s.getAppliedIndex() >= added && s.getLeaderId().equals(leaderId));
      assertEquals("FOLLOWER", seen.getRole(), seen.toString()); // a learner restarted would say LISTENER

      try (var c = new RawClient(n4Port)) {
        c.socket().setSoTimeout((int) WAIT.toMillis());
        var created = c.call(Request.newBuilder().setId(10).setWatch(Watch.newBuilder().setKey(b("w/"))
            .setRangeEnd(b("w0")).setRequireLeader(true)).build());
        assertTrue(created.getWatch().getCreated(), created.toString());
        // Heartbeats alone keep it open: longer than the bound with nothing written, then a write arrives as an event.
        Thread.sleep(5 * ELECTION_MAX_MS);
        var put = Nodes.call(leader, Requests.put(11, "w/1", "x"), WAIT);
        assertFalse(put.hasError(), put.toString());
        var event = c.read();
        assertEquals(10, event.getId(), event.toString());
        assertEquals(1, event.getWatch().getEventsCount(), event.toString());
        assertEquals(leaderId, Nodes.status(leader).getLeaderId(), "the leader changed: n4 would have a timer");

        // The voters stop, the leader last: stopped first, it would hand over to another voter, whose writes would
        // give n4 a timer. n4 has none, so it does not stand for election; it goes on naming its leader.
        for (var v : List.copyOf(voters.list())) {
          if (v != leader) {
            v.close();
            voters.remove(v);
          }
        }
        leader.close();
        voters.remove(leader);
        long cut = System.nanoTime();
        assertTrue(n4.isAlive(), "n4 exited; log:\n" + n4.log());
        var after = Nodes.status(n4Port);
        assertEquals(leaderId, after.getLeaderId(), after.toString());
        // The bound is 3 maximum election timeouts after one without contact: about 2.4 s; 20 s is the read's limit.
        Response ended;
        try {
          ended = c.read();
        } catch (SocketTimeoutException e) {
          throw new AssertionError("no cancel within " + WAIT + " of the cut: the watch stayed open", e);
        }
        long tookMs = (System.nanoTime() - cut) / 1_000_000;
        assertEquals(10, ended.getId(), ended.toString());
        assertTrue(ended.getWatch().getCanceled(), ended.toString());
        assertEquals(Error.Code.UNAVAILABLE, ended.getWatch().getCancelCode(), ended.toString());
        assertTrue(ended.getWatch().getCancelReason().contains("node n4 has known no leader for"), ended.toString());
        assertTrue(tookMs < 4 * ELECTION_MAX_MS + 3000, "ended " + tookMs + " ms after the cut");
        assertTrue(n4.isAlive(), "n4 exited (an election?); log:\n" + n4.log());
      }
    }
  }
}
