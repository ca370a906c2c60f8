package dev.kvraft.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.kvraft.proto.Error;
import dev.kvraft.proto.Put;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Status;
import dev.kvraft.server.raft.RaftNode;
import dev.kvraft.server.testing.Await;
import dev.kvraft.server.testing.RawClient;
import dev.kvraft.server.testing.Requests;
import dev.kvraft.server.testing.TestNodes;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.ratis.RaftConfigKeys;
import org.apache.ratis.client.RaftClient;
import org.apache.ratis.conf.RaftProperties;
import org.apache.ratis.protocol.Message;
import org.apache.ratis.protocol.RaftGroup;
import org.apache.ratis.protocol.RaftPeer;
import org.apache.ratis.retry.RetryPolicies;
import org.apache.ratis.rpc.SupportedRpcType;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Clients that break the rules, against a real single node over loopback TCP: the node stays up and serves others. */
@Timeout(60)
class HostileClientTest {
  private static final Request STATUS = Request.newBuilder().setId(7).setStatus(Status.getDefaultInstance()).build();

  @TempDir
  Path dir;
  KvraftServer server;

  @AfterEach
  void stop() {
    if (server != null) {
      server.close();
    }
  }

  private void start(Map<String, String> settings) throws Exception {
    server = KvraftServer.start(TestNodes.single(dir, settings));
    dev.kvraft.server.testing.Nodes.awaitLeader(java.time.Duration.ofSeconds(30), server);
  }

  /**
   * Opens connections into {@code held} until {@code count} of them are served (a Status answered), for at most 10 s;
   * the leader poll's connection may still count against a limit for a moment, so refused ones are closed and tried
   * again.
   */
  private void served(List<RawClient> held, int count) throws IOException {
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (held.size() < count && System.nanoTime() < deadline) {
      var c = new RawClient(server.clientPort());
      var r = c.call(STATUS);
      if (r != null && r.getId() == 7 && !r.hasError()) {
        held.add(c);
      } else {
        c.close();
      }
    }
  }

  @Test
  void connectionsPastTheLimitGetOverloadedAndTheNodeServesTheOthers() throws Exception {
    start(Map.of("limit.connections", "3"));
    var held = new ArrayList<RawClient>();
    try {
      served(held, 3);
      assertEquals(3, held.size(), "three connections are served within the limit");

      try (var extra = new RawClient(server.clientPort())) {
        var r = extra.read(); // the answer comes unasked, before the client sends anything
        assertEquals(Error.Code.OVERLOADED, r.getError().getCode(), r.toString());
        assertTrue(r.getError().getMessage().contains("limit.connections"), r.getError().getMessage());
        assertNull(extra.read(), "the refused connection is closed");
      }
      for (var c : held) {
        assertEquals(7, c.call(STATUS).getId(), "the node still serves the connections within the limit");
      }
    } finally {
      for (var c : held) {
        c.close();
      }
    }
  }

  @Test
  void connectionsFromOneAddressPastItsLimitGetOverloadedAndOtherAddressesAreServed() throws Exception {
    start(Map.of("limit.connections.per.address", "2"));
    var held = new ArrayList<RawClient>();
    try {
      served(held, 2);
      assertEquals(2, held.size(), "two connections from 127.0.0.1 are served");
      try (var third = new RawClient(server.clientPort())) {
        var r = third.read(); // unasked, before the client sends anything
        assertEquals(Error.Code.OVERLOADED, r.getError().getCode(), r.toString());
        assertTrue(r.getError().getMessage().contains("limit.connections.per.address")
            && r.getError().getMessage().contains("127.0.0.1"), r.getError().getMessage());
        assertNull(third.read(), "the refused connection is closed");
      }
      try (var other = RawClient.from("127.0.0.2", server.clientPort())) {
        assertEquals(7, other.call(STATUS).getId(), "another address is served meanwhile");
      }
      held.removeFirst().close();
      // Its count is given back once the server sees it gone.
      var again = Await.until("a connection from 127.0.0.1 to be served again", Duration.ofSeconds(10), () -> {
        var c = new RawClient(server.clientPort());
        var r = c.call(STATUS);
        if (r != null && r.getId() == 7 && !r.hasError()) {
          return c;
        }
        c.close();
        return null;
      }, java.util.Objects::nonNull);
      held.add(again);
    } finally {
      for (var c : held) {
        c.close();
      }
    }
  }

  @Test
  void bareOversizeLengthPrefixIsAnsweredAtOnce() throws Exception {
    start(Map.of());
    try (var c = new RawClient(server.clientPort())) {
      // 2^31 as a varint and nothing more: the answer must not wait for the bytes that never come.
      c.sendRaw(new byte[] {(byte) 0x80, (byte) 0x80, (byte) 0x80, (byte) 0x80, 0x08});
      var r = c.read();
      assertEquals(Error.Code.TOO_LARGE, r.getError().getCode(), r.toString());
    }
    try (var c = new RawClient(server.clientPort())) {
      assertEquals(7, c.call(STATUS).getId(), "the node still serves a normal client");
    }
  }

  @Test
  void anEntrySentStraightToTheRaftPortIsRefusedAndChangesNothing() throws Exception {
    start(Map.of());
    var self = server.config().self();
    var peer = RaftPeer.newBuilder().setId(self.id()).setAddress(self.host() + ":" + self.peerPort()).build();
    var props = new RaftProperties();
    RaftConfigKeys.Rpc.setType(props, SupportedRpcType.NETTY);
    try (var raft = RaftClient.newBuilder().setProperties(props).setRaftGroup(RaftGroup.valueOf(RaftNode.GROUP_ID, peer))
        .setRetryPolicy(RetryPolicies.noRetry()).build()) {
      // Issue #15: these three bytes, committed, used to stop the database loop of every node for good.
      var refused = assertThrows(IOException.class, () -> raft.io().send(Message.valueOf("\u0007\u0007\u0007")));
      assertTrue(String.valueOf(refused.getMessage()).contains("refuses Raft log entries"), refused.toString());
    }
    try (var c = new RawClient(server.clientPort())) {
      var put = c.call(Request.newBuilder().setId(8).setPut(Put.newBuilder().setKey(ByteString.copyFromUtf8("k"))
          .setValue(ByteString.copyFromUtf8("v"))).build());
      assertTrue(!put.hasError(), put.toString());
      assertEquals(1, put.getHeader().getRevision(), "the refused entry took no revision");
    }
  }

  @Test
  void aTlsClientHelloOnThePlaintextPortGetsOneLineOfText() throws Exception {
    start(Map.of());
    try (var s = new java.net.Socket(java.net.InetAddress.getLoopbackAddress(), server.clientPort())) {
      s.setSoTimeout(10_000);
      var out = s.getOutputStream();
      // The start of a TLS 1.2/1.3 ClientHello record: handshake (22), version 3.1, length, ...
      out.write(new byte[] {0x16, 0x03, 0x01, 0x00, (byte) 0xc8, 0x01, 0x00, 0x00, (byte) 0xc4, 0x03, 0x03});
      out.flush();
      var answer = new String(s.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.US_ASCII);
      assertTrue(answer.startsWith("kvraft: ") && answer.contains("plaintext") && answer.endsWith("\n")
          && answer.indexOf('\n') == answer.length() - 1, "one line of text, then closed: " + answer);
    }
    try (var c = new RawClient(server.clientPort())) {
      assertFalse(c.call(Requests.put(1, "k", "v")).hasError(), "a plaintext client is served");
    }
  }
}
