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
    var token = memberToken(leader);
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

  /**
   * A follower's linearizable reads wait until it has applied the index the leader's ReadIndex names: at or above
   * everything committed before the ReadIndex arrived, and no more. It used to be what the leader had applied after
   * its barrier, which in a read-only load is the barrier's own empty entry (raft.ReadBarriers): a follower learns
   * that entry is committed only with the leader's next append, so every follower read waited for one more.
   */
  @Test
  void theLeadersReadIndexCoversWhatWasCommittedBeforeItAndNotItsOwnBarrier(@TempDir Path dir) throws Exception {
    for (var c : TestNodes.cluster(dir, 3, Map.of())) {
      servers.start(c);
    }
    var leader = Nodes.awaitLeader(WAIT, servers.list());
    assertFalse(Nodes.call(leader, Requests.put(1, "k", "v"), WAIT).hasError());
    Sqlite3.await(leader.config().dataDir().resolve("kvraft.db"), "SELECT summary FROM raft_log WHERE summary ="
        + " 'member token set'", List.of("member token set"), WAIT);
    assertFalse(Nodes.call(leader, Request.newBuilder().setId(2)
        .setSnapshot(dev.kvraft.proto.Snapshot.getDefaultInstance()).build(), WAIT).hasError());
    var token = memberToken(leader);
    var ids = new java.util.concurrent.atomic.AtomicLong(3);
    record Read(long before, long index, long after) {}
    // Every barrier commits an entry; asked until one is seen to, of whoever leads now, again only if leadership
    // moved meanwhile.
    var read = Await.until("a ReadIndex whose barrier committed an entry", WAIT, () -> {
      var now = Nodes.awaitLeader(WAIT, servers.list());
      try (var c = RawClient.to(now)) {
        var hello = c.call(Request.newBuilder().setId(ids.getAndIncrement()).setMemberHello(MemberHello.newBuilder()
            .setNodeId("n2").setToken(ByteString.copyFrom(token))).build());
        assertFalse(hello.hasError(), hello.toString());
        var status = Request.newBuilder().setStatus(dev.kvraft.proto.Status.getDefaultInstance());
        for (int i = 0; i < 4; i++) {
          var before = c.call(status.setId(ids.getAndIncrement()).build()).getStatus();
          var ri = c.call(Request.newBuilder().setId(ids.getAndIncrement())
              .setReadIndex(ReadIndex.getDefaultInstance()).build());
          var after = c.call(status.setId(ids.getAndIncrement()).build()).getStatus();
          if (ri.hasError() || !after.getRole().equals("LEADER") || before.getTerm() != after.getTerm()) {
            return null;
          }
          if (after.getCommitIndex() > before.getCommitIndex()) {
            return new Read(before.getCommitIndex(), ri.getReadIndex().getIndex(), after.getCommitIndex());
          }
        }
        return null;
      }
    }, r -> r != null);
    assertTrue(read.index() >= read.before(), "at or above what was committed before the ReadIndex: " + read);
    assertTrue(read.index() < read.after(), "below the barrier's own entry, committed by the time it answered: "
        + read);
  }

  /** The cluster's member token, from the newest snapshot of {@code node} (taken by the caller). */
  private static byte[] memberToken(dev.kvraft.server.KvraftServer node) throws Exception {
    var snapshot = newestSnapshot(node.config().dataDir());
    var hex = Sqlite3.query(snapshot, "SELECT value FROM system WHERE name = 'member_token'");
    assertEquals(1, hex.size(), "the snapshot's system table holds the token: " + hex);
    var token = HexFormat.of().parseHex(hex.get(0));
    assertEquals(32, token.length);
    return token;
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
