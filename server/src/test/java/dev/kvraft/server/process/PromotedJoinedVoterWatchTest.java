package dev.kvraft.server.process;

import static dev.kvraft.server.testing.Requests.b;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvraft.proto.Error;
import dev.kvraft.proto.MemberChange;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import dev.kvraft.proto.Watch;
import dev.kvraft.server.testing.Await;
import dev.kvraft.server.testing.Nodes;
import dev.kvraft.server.testing.RawClient;
import dev.kvraft.server.testing.Requests;
import dev.kvraft.server.testing.RunningServers;
import java.net.SocketTimeoutException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A node started with --join, added as a learner and then promoted is a voter by its configuration, but the leader that
 * promoted it never marks it caught up (Ratis 3.3.0: only a node staged as a voter is), so until a leader elected after
 * the promotion writes to it, it has no follower timer: it never stands for election and goes on naming its old
 * leader however long that leader is gone. With a second voter the promoting leader hands over and the next leader
 * gives it a timer; with none (n1 alone, then n2 promoted: two voters) nothing does. A {@code require_leader} watch
 * on it must still end once that leader stops reaching it; when RaftNode.leaderKnown counted the appendEntries Ratis
 * handled on learners only, it trusted the stale leader id of this voter and the watch stayed open and silent. n1 runs
 * in this JVM; n2 in a process of its own (an election's halt(1) must not end the test JVM).
 */
@Timeout(120)
@Tag("slow") // processes: not in bin/test --fast
class PromotedJoinedVoterWatchTest {
  private static final Duration WAIT = Duration.ofSeconds(20);
  /** LeaderAbsence.ELECTION_TIMEOUTS (package-private in db): the bound is that many maximum election timeouts. */
  private static final int BOUND_TIMEOUTS = 3;

  @TempDir
  Path dir;
  @RegisterExtension
  final RunningServers voters = new RunningServers();

  @Test
  void aRequireLeaderWatchOnAPromotedJoinedVoterWithNoTimerEndsOnceItsLeaderStops() throws Exception {
    // Ratis's election lines on n2 (kvraft keeps Ratis at WARN): it must never stand, or it had a timer after all.
    var ratisElection = Map.of("JAVA_TOOL_OPTIONS",
        "-Dkvraft.log.level.org.apache.ratis.server.impl.LeaderElection=info"
            + " -Dkvraft.log.level.org.apache.ratis.server.impl.FollowerState=info");
    var cluster = JoinedLearner.start(dir, voters, 1, ratisElection, WAIT);
    int n2Port = cluster.joinedPort();
    var n1 = cluster.leader();
    var n1Id = n1.config().nodeId();
    var n2Id = cluster.joinedId();
    long electionMaxMs = n1.config().electionTimeoutMax().toMillis();
    try (var n2 = cluster.joined()) {
      var promoted = Nodes.call(n1, Request.newBuilder().setId(2).setMemberChange(MemberChange.newBuilder()
          .setAction(MemberChange.Action.PROMOTE).setId(n2Id)).build(), WAIT);
      assertFalse(promoted.hasError(), promoted.toString());
      assertEquals(2, promoted.getMemberChange().getMembersList().stream().filter(m -> !m.getLearner()).count(),
          promoted.toString());
      // Two voters: a write commits only with n2's answer. n2 applies it under n1, a voter in its own configuration.
      var put = Nodes.call(n1, Requests.put(3, "k", "v"), WAIT);
      assertFalse(put.hasError(), put.toString());
      long written = Nodes.status(n1).getAppliedIndex();
      var seen = Await.until(n2Id + " to apply index " + written + " under " + n1Id + " as a voter", WAIT,
          () -> Nodes.status(n2Port), s -> s.getAppliedIndex() >= written && s.getLeaderId().equals(n1Id)
              && s.getMembersList().stream().anyMatch(m -> m.getId().equals(n2Id) && !m.getLearner()));
      assertEquals("FOLLOWER", seen.getRole(), seen.toString());

      try (var c = new RawClient(n2Port)) {
        c.socket().setSoTimeout((int) WAIT.toMillis());
        var created = c.call(Request.newBuilder().setId(10).setWatch(Watch.newBuilder().setKey(b("w/"))
            .setRangeEnd(b("w0")).setRequireLeader(true)).build());
        assertTrue(created.getWatch().getCreated(), created.toString());
        // A quiet period, not a wait for anything: heartbeats alone keep the watch open for longer than the bound,
        // then a write arrives as an event (the check applied to a voter must not end it while its leader is there).
        Thread.sleep((BOUND_TIMEOUTS + 2) * electionMaxMs);
        var event = Nodes.call(n1, Requests.put(11, "w/1", "x"), WAIT);
        assertFalse(event.hasError(), event.toString());
        var got = c.read();
        assertEquals(10, got.getId(), got.toString());
        assertEquals(1, got.getWatch().getEventsCount(), got.toString());
        assertEquals(n1Id, Nodes.status(n1).getLeaderId(), "the leader changed: n2 would have a timer");

        // n1 stops (it does not hand over: n2 alone is no quorum). n2, with no timer, never stands for election and
        // goes on naming n1.
        n1.close();
        voters.remove(n1);
        long cut = System.nanoTime();
        assertTrue(n2.isAlive(), "n2 exited; log:\n" + n2.log());
        // The bound: one maximum election timeout without an appendEntries, then the LeaderAbsence bound of three;
        // 3 s of slack for the ticks and a loaded machine. WAIT is only the read's limit.
        long boundMs = (1 + BOUND_TIMEOUTS) * electionMaxMs;
        Response ended;
        try {
          ended = c.read();
        } catch (SocketTimeoutException e) {
          throw new AssertionError("no cancel within " + WAIT + " of n1's stop: the watch stayed open; n2 now: "
              + Nodes.status(n2Port), e);
        }
        long tookMs = (System.nanoTime() - cut) / 1_000_000;
        assertEquals(10, ended.getId(), ended.toString());
        assertTrue(ended.getWatch().getCanceled(), ended.toString());
        assertEquals(Error.Code.UNAVAILABLE, ended.getWatch().getCancelCode(), ended.toString());
        assertTrue(ended.getWatch().getCancelReason().contains("node " + n2Id + " has known no leader for"),
            ended.toString());
        assertTrue(tookMs < boundMs + 3000, "ended " + tookMs + " ms after the cut (bound " + boundMs + " ms)");

        // The case the test is for: n2 had no timer. With one it would have stood for election within a maximum
        // election timeout of the cut (and forgotten n1), long before the cancel.
        var after = Nodes.status(n2Port);
        assertEquals(n1Id, after.getLeaderId(), after.toString());
        assertTrue(n2.isAlive(), "n2 exited; log:\n" + n2.log());
        assertFalse(n2.log().contains("change to CANDIDATE"), "n2 stood for election; log:\n" + n2.log());
      }
    }
  }
}
