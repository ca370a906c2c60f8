package dev.kvraft.client;

import static dev.kvraft.client.KvClient.utf8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.kvraft.proto.Consistency;
import dev.kvraft.server.KvraftServer;
import dev.kvraft.server.testing.Nodes;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A client connected to a follower sends its writes straight to the leader once a follower has named it on a
 * forwarded write's answer (issue #23: the follower's relay cost two thirds of the writes' CPU), and its linearizable
 * reads too, once named on one of theirs (the follower's read-index call to the leader is saved); keeps its STALE
 * reads on its own node, and follows a new leader. With {@code writesToLeader(false)} every write goes through its
 * node, with {@code readsToLeader(false)} every read.
 */
@Timeout(120)
class LeaderRoutingTest {
  private static final Duration WAIT = Duration.ofSeconds(30);
  private final Started started = new Started();
  private final List<KvraftServer> servers = started.servers;
  private KvraftServer leader;
  private KvraftServer follower;

  @BeforeEach
  void start(@TempDir Path dir) throws Exception {
    started.cluster(dir, 3, Map.of());
    leader = Nodes.awaitLeader(WAIT, servers);
    follower = servers.stream().filter(s -> s != leader).findFirst().orElseThrow();
  }

  @AfterEach
  void stop() throws Exception {
    started.close();
  }

  private KvClient onFollowerOnly(boolean toLeader) {
    return onFollowerOnly(toLeader, toLeader);
  }

  private KvClient onFollowerOnly(boolean writesToLeader, boolean readsToLeader) {
    return started.closing(KvClient.builder().addresses(address(follower)).discoverMembers(false)
        .writesToLeader(writesToLeader).readsToLeader(readsToLeader).timeout(Duration.ofSeconds(5)).build());
  }

  private static String address(KvraftServer s) {
    return "127.0.0.1:" + s.clientPort();
  }

  @Test
  void writesGoToTheLeaderOnceAFollowerNamesIt() throws Exception {
    var client = onFollowerOnly(true);
    assertEquals(Optional.empty(), client.leaderAddress(), "nothing learned before the first write");
    client.put("a", "1"); // forwarded by the follower, whose answer names the leader
    assertEquals(Optional.of(address(leader)), client.leaderAddress());
    follower.close();
    // The client's only node is gone, yet its writes go on: they now go to the leader itself.
    client.put("a", "2");
    assertEquals(Optional.of(address(leader)), client.leaderAddress());
    assertEquals("2", client.get(utf8("a"), Consistency.LINEARIZABLE).orElseThrow().getValue().toStringUtf8(),
        "linearizable reads go to the leader too");
    assertThrows(UnavailableException.class, () -> client.get(utf8("a"), Consistency.STALE),
        "STALE reads stay on the client's own node");
  }

  @Test
  void linearizableReadsGoToTheLeaderOnceAFollowerNamesIt() throws Exception {
    try (var writer = KvClient.builder().addresses(address(leader)).discoverMembers(false).build()) {
      writer.put("a", "1");
    }
    var client = onFollowerOnly(true);
    assertEquals("1", client.get(utf8("a"), Consistency.LINEARIZABLE).orElseThrow().getValue().toStringUtf8());
    // The follower asked the leader for a read index, and named it on the answer.
    assertEquals(Optional.of(address(leader)), client.leaderAddress());
    follower.close();
    assertEquals("1", client.get(utf8("a"), Consistency.LINEARIZABLE).orElseThrow().getValue().toStringUtf8(),
        "the client's only node is gone, yet its linearizable reads go on at the leader");
    assertEquals(List.of("a"), client.scanPrefix(utf8("a"), 10, Consistency.LINEARIZABLE).getKvsList().stream()
        .map(kv -> kv.getKey().toStringUtf8()).toList(), "and so do its linearizable scans");
  }

  @Test
  void readsStayOnTheNodeWhenAskedTo() throws Exception {
    var client = onFollowerOnly(true, false);
    client.put("a", "1");
    assertEquals(Optional.of(address(leader)), client.leaderAddress());
    follower.close();
    client.put("a", "2"); // writes still go to the leader
    assertThrows(UnavailableException.class, () -> client.get(utf8("a"), Consistency.LINEARIZABLE),
        "linearizable reads stay on the client's own node, which is gone");
  }

  @Test
  void aClientThatUsesItsNodeOnlyHasEveryWriteForwarded() throws Exception {
    var client = onFollowerOnly(false);
    client.put("a", "1");
    assertEquals(Optional.empty(), client.leaderAddress());
    follower.close();
    assertThrows(UnavailableException.class, () -> client.put("a", "2"), "its one node is gone");
  }

  @Test
  void writesFollowANewLeader() throws Exception {
    var client = onFollowerOnly(true);
    client.put("a", "1");
    var old = leader;
    old.close();
    servers.remove(old);
    var next = Nodes.awaitLeader(WAIT, servers);
    // The old leader refuses the connection: the write goes through the client's node, which forwards it to the
    // new leader and names it on its answer, or is the new leader and answers it (naming nobody).
    client.put("a", "2");
    assertEquals(next == follower ? Optional.empty() : Optional.of(address(next)), client.leaderAddress());
    client.put("a", "3");
    assertEquals("3", client.get("a").orElseThrow().getValue().toStringUtf8());
  }
}
