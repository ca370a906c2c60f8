package dev.kvraft.server.process;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvraft.proto.Error;
import dev.kvraft.proto.MemberChange;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import dev.kvraft.server.KvraftServer;
import dev.kvraft.server.testing.Await;
import dev.kvraft.server.testing.Nodes;
import dev.kvraft.server.testing.Requests;
import dev.kvraft.server.testing.TestNodes;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A node removed while it was stopped never applies its removal: restarted, it hears from no leader, stands for
 * election, and the leader answers that it is not a member (Ratis's {@code shouldShutdown}), on which Ratis closes it.
 * Its own log still lists it, so the watchdog took that for a failed Raft and exited 1, and systemd restarted it
 * again and again. It must take the removal path: one line saying it was removed, exit 0. n1 and n2 run in this JVM,
 * n3 in its own process (a halt(1) there must not end the test JVM).
 */
@Timeout(180)
@Tag("slow") // processes: not in bin/test --fast
class RemovedWhileStoppedTest {
  private static final Duration WAIT = Duration.ofSeconds(30);

  @TempDir
  Path dir;

  @Test
  void aNodeRemovedWhileStoppedExitsZeroWhenTheLeaderTellsItsVoteRequestItIsNotAMember() throws Exception {
    // A short request timeout: the leader's removal notice to n3 (sent over the member link, with that deadline)
    // is given up well before n3 comes back, so the vote reply is all that can tell it.
    var configs = TestNodes.cluster(dir, 3, Map.of("request.timeout.ms", "2000"));
    KvraftServer n1 = null;
    KvraftServer n2 = null;
    var n3Config = configs.get(2);
    var n3Port = n3Config.self().clientPort();
    try (var n3 = new ServerProcess(TestNodes.args(n3Config), dir.resolve("n3.log"), n3Port).start()) {
      n1 = KvraftServer.start(configs.get(0));
      n2 = KvraftServer.start(configs.get(1));
      n3.awaitServing(Duration.ofSeconds(60));
      var leader = Nodes.awaitLeader(WAIT, n1, n2);
      var put = Nodes.call(leader, Requests.put(1, "k", "v"), WAIT);
      assertFalse(put.hasError(), put.toString());

      // n3 stops (SIGTERM: a leader would hand over first), and is removed while it is down.
      assertEquals(0, n3.terminate(Duration.ofSeconds(20)), "n3's stop; log:\n" + n3.log());
      leader = Nodes.awaitLeader(WAIT, n1, n2);
      var at = leader;
      var removed = Await.until("n3's removal is taken", WAIT, () -> change(at, "n3", 2),
          r -> !r.hasError() || r.getError().getCode() != Error.Code.CONFLICT);
      assertFalse(removed.hasError(), removed.toString());
      assertEquals(List.of("n1", "n2"), removed.getMemberChange().getMembersList().stream().map(m -> m.getId())
          .sorted().toList(), removed.toString());
      Thread.sleep(3000); // past the removal notice's deadline (request.timeout.ms)

      // n3 comes back with its old log, which still names it.
      try (var again = new ServerProcess(TestNodes.args(n3Config), dir.resolve("n3-again.log"), n3Port).start()) {
        assertTrue(again.process().waitFor(60, TimeUnit.SECONDS), "n3 is still running; log:\n" + again.log());
        var log = again.log();
        assertEquals(0, again.process().exitValue(), "exit code (0: removed, not restarted by systemd); log:\n" + log);
        assertTrue(log.contains("the leader answered its vote request that the committed configuration leaves it"
            + " out"), log);
        assertFalse(log.contains("Raft stopped working"), log);
      }
      // The cluster goes on without it.
      var after = Nodes.call(Nodes.awaitLeader(WAIT, n1, n2), Requests.put(3, "k2", "v"), WAIT);
      assertFalse(after.hasError(), after.toString());
    } finally {
      if (n1 != null) {
        n1.close();
      }
      if (n2 != null) {
        n2.close();
      }
    }
  }

  private static Response change(KvraftServer at, String id, long requestId) throws Exception {
    var r = Request.newBuilder().setId(requestId).setMemberChange(MemberChange.newBuilder()
        .setAction(MemberChange.Action.REMOVE).setId(id)).build();
    return Nodes.call(at, r, Duration.ofSeconds(20));
  }
}
