package dev.kvraft.server.net;

import static org.junit.jupiter.api.Assertions.*;

import com.google.protobuf.ByteString;
import dev.kvraft.proto.Error;
import dev.kvraft.proto.LogEntry;
import dev.kvraft.proto.MemberHello;
import dev.kvraft.proto.ReadIndex;
import dev.kvraft.proto.Request;
import dev.kvraft.server.testing.Await;
import dev.kvraft.server.testing.Nodes;
import dev.kvraft.server.testing.RawClient;
import dev.kvraft.server.testing.Requests;
import dev.kvraft.server.testing.RunningServers;
import dev.kvraft.server.testing.Sqlite3;
import dev.kvraft.server.testing.TestNodes;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * With TLS off, the leader still takes forwarded requests and ReadIndex only from members (issue #16): members open
 * their link with a MemberHello carrying the cluster's member token, which the first leader put in the Raft log and
 * which no client can read. Three real plaintext nodes.
 */
@Tag("slow") // a three-node cluster and sqlite3: not in bin/test --fast
@Timeout(120)
class MemberAuthTest {
  private static final Duration WAIT = Duration.ofSeconds(30);
  @RegisterExtension
  final RunningServers servers = new RunningServers();

  @Test
  void onlyAConnectionWithTheMemberTokenMaySendForwardedRequestsAndReadIndex(@TempDir Path dir) throws Exception {
    for (var c : TestNodes.cluster(dir, 3, Map.of())) {
      servers.start(c);
    }
    var leader = Nodes.awaitLeader(WAIT, servers.list());
    // The real links work: writes and linearizable reads through every follower.
    long id = 1;
    for (var s : servers.list()) {
      try (var c = RawClient.to(s)) {
        var put = c.call(Requests.put(id++, "m/" + s.config().nodeId(), "x"));
        assertFalse(put.hasError(), put.toString());
        var get = c.call(Requests.get(id++, "m/" + s.config().nodeId()));
        assertEquals("x", get.getGet().getKv().getValue().toStringUtf8(), get.toString());
      }
    }

    try (var c = RawClient.to(leader)) {
      var forged = c.call(Requests.put(id++, "m/forged", "x").toBuilder().setForwarded(true).build());
      assertEquals(Error.Code.PERMISSION_DENIED, forged.getError().getCode(), forged.toString());
      assertTrue(forged.getError().getMessage().contains("member token"), forged.getError().getMessage());
      var readIndex = c.call(Request.newBuilder().setId(id++).setReadIndex(ReadIndex.getDefaultInstance()).build());
      assertEquals(Error.Code.PERMISSION_DENIED, readIndex.getError().getCode(), readIndex.toString());
      var wrong = c.call(Request.newBuilder().setId(id++).setMemberHello(MemberHello.newBuilder().setNodeId("n2")
          .setToken(ByteString.copyFrom(new byte[32]))).build());
      assertEquals(Error.Code.PERMISSION_DENIED, wrong.getError().getCode(), wrong.toString());
      var still = c.call(Requests.put(id++, "m/forged", "x").toBuilder().setForwarded(true).build());
      assertEquals(Error.Code.PERMISSION_DENIED, still.getError().getCode(), "a wrong token changes nothing");
      assertFalse(c.call(Requests.get(id++, "m/forged")).getGet().hasKv(), "no refused write was applied");
    }

    // The token is in the snapshot (so a node restarted from one still has it) and nowhere in kvraft.db.
    assertFalse(Nodes.call(leader, Request.newBuilder().setId(id++)
        .setSnapshot(dev.kvraft.proto.Snapshot.getDefaultInstance()).build(), WAIT).hasError());
    var snapshot = newestSnapshot(leader.config().dataDir());
    var hex = Sqlite3.query(snapshot, "SELECT value FROM system WHERE name = 'member_token'");
    assertEquals(1, hex.size(), "the snapshot's system table holds the token: " + hex);
    var token = HexFormat.of().parseHex(hex.get(0));
    assertEquals(32, token.length);
    var db = leader.config().dataDir().resolve("kvraft.db");
    var rows = Sqlite3.await(db, "SELECT summary FROM raft_log WHERE summary = 'member token set'",
        List.of("member token set"), WAIT);
    assertEquals(List.of("member token set"), rows, "the mirror shows the entry, not the token");
    var payload = Sqlite3.query(db, "SELECT hex(payload) FROM raft_log WHERE summary = 'member token set'");
    assertTrue(LogEntry.parseFrom(HexFormat.of().parseHex(payload.get(0))).getMemberToken().isEmpty(),
        "the mirrored payload has the token stripped");
    for (var f : List.of(db, db.resolveSibling("kvraft.db-wal"))) {
      if (Files.exists(f)) {
        assertFalse(contains(Files.readAllBytes(f), token), f + " must not hold the member token");
      }
    }

    // With the token, a connection is a member's: this is what a follower's link does. Sent to whoever leads now
    // (on a loaded machine leadership may have moved during the test; a forwarded write is not forwarded again), and
    // again to the next leader only if it says it no longer leads.
    var ids = new java.util.concurrent.atomic.AtomicLong(id);
    var last = Await.until("a member's forwarded write accepted by the leader", WAIT, () -> {
      try (var c = RawClient.to(Nodes.awaitLeader(WAIT, servers.list()))) {
        var hello = c.call(Request.newBuilder().setId(ids.getAndIncrement()).setMemberHello(MemberHello.newBuilder()
            .setNodeId("n2").setToken(ByteString.copyFrom(token))).build());
        assertFalse(hello.hasError(), hello.toString());
        return c.call(Requests.put(ids.getAndIncrement(), "m/member", "x").toBuilder().setForwarded(true).build());
      }
    }, r -> !r.hasError() || r.getError().getCode() != Error.Code.UNAVAILABLE);
    assertFalse(last.hasError(), last.toString());
  }

  private static Path newestSnapshot(Path dataDir) throws Exception {
    try (var files = Files.walk(dataDir)) {
      return files.filter(p -> p.getFileName().toString().matches("snapshot\\.\\d+_\\d+"))
          .max(java.util.Comparator.comparing(p -> p.toFile().lastModified())).orElseThrow();
    }
  }

  private static boolean contains(byte[] haystack, byte[] needle) {
    outer:
    for (int i = 0; i + needle.length <= haystack.length; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (haystack[i + j] != needle[j]) {
          continue outer;
        }
      }
      return true;
    }
    return false;
  }
}
