package dev.kvraft.server;

import static org.junit.jupiter.api.Assertions.assertFalse;

import dev.kvraft.server.testing.Await;
import dev.kvraft.server.testing.Nodes;
import dev.kvraft.server.testing.RawClient;
import dev.kvraft.server.testing.Requests;
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
 * A lone write reaches the followers' state at once, not with the leader's next heartbeat: a watch or a stale read on
 * a follower sees it within milliseconds of its acknowledgement ({@code db.CommitNotice}).
 */
@Timeout(120)
class FollowerCommitTest {
  private static final Duration WAIT = Duration.ofSeconds(30);
  /**
   * With a 4 s minimum election timeout Ratis's heartbeat comes 2 s after a follower's last answer, so a follower that
   * waited for it would apply the write about 2 s after it was acknowledged.
   */
  private static final Map<String, String> SLOW_HEARTBEATS = Map.of("raft.election.timeout.min.ms", "4000",
      "raft.election.timeout.max.ms", "4800");
  private static final Duration WELL_BEFORE_THE_HEARTBEAT = Duration.ofMillis(1500);

  @RegisterExtension
  final RunningServers servers = new RunningServers();

  @Test
  void followersApplyALoneWriteWellBeforeTheNextHeartbeat(@TempDir Path dir) throws Exception {
    for (var c : TestNodes.cluster(dir, 3, SLOW_HEARTBEATS)) {
      servers.start(c);
    }
    var leader = Nodes.awaitLeader(WAIT, servers.list());
    var followers = servers.list().stream().filter(s -> s != leader).toList();
    for (var f : followers) {
      Nodes.awaitApplied(f, Nodes.status(leader).getAppliedIndex(), WAIT);
    }
    try (var client = RawClient.to(leader)) {
      for (int round = 1; round <= 3; round++) {
        var put = client.call(Requests.put(round, "k" + round, "v" + round));
        assertFalse(put.hasError(), put.toString());
        long index = Nodes.status(leader).getAppliedIndex();
        for (var f : followers) {
          Nodes.awaitApplied(f, index, WELL_BEFORE_THE_HEARTBEAT);
        }
        // What a user sees: a stale read on each follower returns the write.
        int n = round;
        Await.until("the write to read on every follower", WAIT, () -> followers.stream().allMatch(f -> {
          try (var c = RawClient.to(f)) {
            return c.call(Requests.staleGet(100 + n, "k" + n)).getGet().hasKv();
          } catch (java.io.IOException e) {
            return false;
          }
        }));
      }
    }
  }
}
