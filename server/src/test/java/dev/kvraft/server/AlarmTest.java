package dev.kvraft.server;

import static org.junit.jupiter.api.Assertions.*;

import dev.kvraft.proto.Alarm;
import dev.kvraft.proto.Error;
import dev.kvraft.proto.LeaseGrant;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import dev.kvraft.server.config.ServerConfig;
import dev.kvraft.server.testing.Await;
import dev.kvraft.server.testing.Nodes;
import dev.kvraft.server.testing.RawClient;
import dev.kvraft.server.testing.Requests;
import dev.kvraft.server.testing.RunningServers;
import dev.kvraft.server.testing.TestNodes;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The space quota (issue #19): a node over storage.quota.bytes raises the cluster's NOSPACE alarm through the log;
 * every node then refuses writes that add data (puts, lease grants) with RESOURCE_EXHAUSTED while reads and deletes
 * work; the alarm survives restarts, and a disarm (once the nodes are under their quota) lets writes in again.
 */
@Tag("slow") // three real nodes, restarted
@Timeout(180)
class AlarmTest {
  private static final Duration WAIT = Duration.ofSeconds(30);
  @RegisterExtension
  final RunningServers servers = new RunningServers();
  private long ids = 1;


  private Response call(KvraftServer s, Request.Builder r) throws Exception {
    try (var c = RawClient.to(s)) {
      return c.call(r.setId(ids++).build());
    }
  }

  /** A put's answer; a connection problem comes back as an UNKNOWN error (for use inside polls). */
  private Response put(KvraftServer s, String key) {
    try {
      return call(s, Requests.put(0, key, "v").toBuilder());
    } catch (Exception e) {
      return Response.newBuilder().setError(Error.newBuilder().setCode(Error.Code.UNKNOWN)
          .setMessage(e.toString())).build();
    }
  }

  private Response alarm(KvraftServer s, Alarm.Action action) throws Exception {
    return call(s, Request.newBuilder().setAlarm(Alarm.newBuilder().setAction(action)));
  }

  @Test
  void overTheQuotaWritesAreRefusedEverywhereUntilTheAlarmIsDisarmed(@TempDir Path dir) throws Exception {
    // A quota of one byte: every node is over it at its first measurement (within 5 s of starting).
    var configs = TestNodes.cluster(dir, 3, Map.of("storage.quota.bytes", "1"));
    for (var c : configs) {
      servers.start(c);
    }
    var leader = Nodes.awaitLeader(WAIT, servers.list());
    var follower = servers.list().stream().filter(s -> s != leader).findFirst().orElseThrow();

    Await.until("the NOSPACE alarm to be raised and reach every node", WAIT, () -> servers.list().stream()
        .allMatch(s -> put(s, "during/alarm").getError().getCode() == Error.Code.RESOURCE_EXHAUSTED));
    var refused = put(follower, "during/alarm");
    assertTrue(refused.getError().getMessage().contains("NOSPACE") && refused.getError().getMessage()
        .contains("alarm disarm"), refused.toString());
    assertFalse(Nodes.call(follower, Requests.get(ids++, "some/key"), WAIT).hasError(), "reads work");
    assertFalse(call(follower, Requests.delete(0, "some/", "some0").toBuilder()).hasError(), "deletes work");
    // A lease is state every node keeps: granting one adds data too (etcd's quota refuses it the same way).
    var grant = call(follower, Request.newBuilder().setLeaseGrant(LeaseGrant.newBuilder().setTtlSeconds(60)));
    assertEquals(Error.Code.RESOURCE_EXHAUSTED, grant.getError().getCode(), grant.toString());
    var listed = alarm(follower, Alarm.Action.LIST).getAlarm().getAlarmsList();
    assertFalse(listed.isEmpty());
    assertEquals("NOSPACE", listed.get(0).getType());
    assertTrue(listed.get(0).getReason().contains("storage.quota.bytes"), listed.toString());
    assertTrue(Nodes.status(leader).getAlarmsList().stream().anyMatch(a -> a.startsWith("NOSPACE on ")));

    // The operator makes room (here: a bigger quota), restarts the nodes: the alarm is still raised...
    var roomy = new ArrayList<ServerConfig>();
    for (var s : List.copyOf(servers.list())) {
      var c = s.config();
      s.close();
      servers.remove(s);
      roomy.add(TestNodes.withSetting(c, "storage.quota.bytes", "10000000000"));
    }
    for (var c : roomy) {
      servers.start(c);
    }
    var newLeader = Nodes.awaitLeader(WAIT, servers.list());
    Await.until("the restarted cluster to answer", WAIT, () -> !alarm(newLeader, Alarm.Action.LIST).hasError());
    assertFalse(alarm(newLeader, Alarm.Action.LIST).getAlarm().getAlarmsList().isEmpty(),
        "the alarm survives restarts");
    assertEquals(Error.Code.RESOURCE_EXHAUSTED, put(newLeader, "still/alarmed").getError().getCode());

    // ...until it is disarmed; then writes work on every node.
    assertFalse(alarm(newLeader, Alarm.Action.DISARM).hasError());
    Await.until("writes to work on every node after the disarm", WAIT, () -> servers.list().stream()
        .allMatch(s -> !put(s, "after/disarm").hasError()));
    assertTrue(alarm(newLeader, Alarm.Action.LIST).getAlarm().getAlarmsList().isEmpty());
  }
}
