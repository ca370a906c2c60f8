package dev.kvraft.server.net;

import static org.junit.jupiter.api.Assertions.*;

import dev.kvraft.proto.Error;
import dev.kvraft.proto.PemTls;
import dev.kvraft.proto.ReadIndex;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import dev.kvraft.server.KvraftServer;
import dev.kvraft.server.raft.tls.TlsSettings;
import dev.kvraft.server.testing.Nodes;
import dev.kvraft.server.testing.RawClient;
import dev.kvraft.server.testing.Requests;
import dev.kvraft.server.testing.RunningServers;
import dev.kvraft.server.testing.TestCerts;
import dev.kvraft.server.testing.TestNodes;
import java.io.IOException;
import java.math.BigInteger;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * TLS on the client port and the forwarding link (issue #16), on a real three-node cluster with certificates made by
 * openssl: every node serves TLS clients (a follower forwards writes and asks ReadIndex over its TLS link), a
 * plaintext client is told the port needs TLS, clients without a certificate or with one from another CA are
 * refused, only members may send forwarded requests and ReadIndex, the client checks the server's host name, a
 * reload serves the new certificate, and a flood of stalled handshakes is cut at the deadline while a real client
 * keeps being served.
 */
@Tag("slow") // openssl and real nodes: not in bin/test --fast
@Timeout(180)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ClientTlsTest {
  private static final Duration WAIT = Duration.ofSeconds(30);
  private final RunningServers servers = new RunningServers();
  private final Map<String, TlsSettings> nodeFiles = new HashMap<>();
  private TestCerts certs;
  private Path dir;
  /** A client certificate that names no member: an ordinary client. */
  private TlsSettings client;
  private KvraftServer leader;
  private KvraftServer follower;
  private long ids = 1;

  @BeforeAll
  void startCluster(@TempDir Path dir) throws Exception {
    Assumptions.assumeTrue(TestCerts.opensslPresent(), "openssl is missing");
    this.dir = dir;
    certs = TestCerts.in(dir);
    certs.ca("ca");
    certs.ca("other-ca");
    for (var id : List.of("n1", "n2", "n3")) {
      nodeFiles.put(id, certs.node("ca", id, id));
    }
    client = certs.node("ca", "app", "app");
    var configs = TestNodes.cluster(dir, 3, Map.of(), id -> TestCerts.settings(nodeFiles.get(id)));
    for (var c : configs) {
      servers.start(c);
    }
    leader = Nodes.awaitLeader(WAIT, servers.list());
    follower = servers.list().stream().filter(s -> s != leader).findFirst().orElseThrow();
  }

  @AfterAll
  void stop() {
    servers.close();
  }

  private static SSLContext context(TlsSettings files) throws IOException {
    return PemTls.of(files.certFile(), files.keyFile(), files.caFile()).context();
  }

  private RawClient app(KvraftServer s) throws IOException {
    return new RawClient(s.clientPort(), context(client));
  }

  @Test
  void everyNodeServesTlsClientsAndFollowersForwardOverTls() throws Exception {
    for (var s : servers.list()) {
      try (var c = app(s)) {
        var key = "tls/" + s.config().nodeId();
        var put = c.call(Requests.put(ids++, key, "via " + s.config().nodeId()));
        assertFalse(put.hasError(), "put through " + s.config().nodeId() + ": " + put);
      }
    }
    for (var s : servers.list()) {
      try (var c = app(s)) {
        for (var id : List.of("n1", "n2", "n3")) {
          // Linearizable: a follower asks the leader for a read index over its TLS link.
          var get = c.call(Requests.get(ids++, "tls/" + id));
          assertFalse(get.hasError(), get.toString());
          assertEquals("via " + id, get.getGet().getKv().getValue().toStringUtf8());
        }
      }
    }
  }

  @Test
  void aPlaintextClientIsToldThePortSpeaksTlsOnly() throws Exception {
    try (var c = new RawClient(follower.clientPort())) {
      var r = c.call(Requests.put(ids++, "tls/plaintext", "x"));
      assertNotNull(r, "the server answers in the kvraft protocol before closing");
      assertEquals(Error.Code.PERMISSION_DENIED, r.getError().getCode(), r.toString());
      assertTrue(r.getError().getMessage().contains("TLS"), r.getError().getMessage());
      assertNull(readOrNull(c), "then closes the connection");
    }
    try (var c = app(leader)) {
      assertFalse(c.call(Requests.get(ids++, "tls/plaintext")).getGet().hasKv(), "nothing was written");
    }
  }

  @Test
  void aClientWithoutACertificateIsRefusedWhenOneIsRequired() throws Exception {
    assertRefused(follower, PemTls.trusting(nodeFiles.get("n1").caFile()).context());
  }

  @Test
  void aCertificateFromAnotherCaIsRefused() throws Exception {
    var stranger = certs.node("other-ca", "stranger", "app");
    // Presents a certificate the nodes' CA did not sign, while trusting the right CA for the server.
    var context = PemTls.of(stranger.certFile(), stranger.keyFile(), nodeFiles.get("n1").caFile()).context();
    assertRefused(leader, context);
    // And a client that trusts only the other CA refuses the server.
    var e = assertThrows(IOException.class, () -> new RawClient(leader.clientPort(), context(stranger)).close());
    assertTrue(e.getMessage().contains("PKIX") || e.getMessage().contains("certificate"), e.getMessage());
  }

  @Test
  void onlyMembersMaySendForwardedRequestsAndReadIndex() throws Exception {
    try (var c = app(leader)) {
      var forwarded = c.call(Requests.put(ids++, "tls/forged", "x").toBuilder().setForwarded(true).build());
      assertEquals(Error.Code.PERMISSION_DENIED, forwarded.getError().getCode(), forwarded.toString());
      assertTrue(forwarded.getError().getMessage().contains("members"), forwarded.getError().getMessage());
      var readIndex = c.call(Request.newBuilder().setId(ids++).setReadIndex(ReadIndex.getDefaultInstance()).build());
      assertEquals(Error.Code.PERMISSION_DENIED, readIndex.getError().getCode(), readIndex.toString());
      var get = c.call(Requests.get(ids++, "tls/forged"));
      assertFalse(get.hasError(), get.toString());
      assertFalse(get.getGet().hasKv(), "the refused write changed nothing");
    }
    // A member's certificate may (this is what a follower's link presents).
    try (var member = new RawClient(leader.clientPort(), context(nodeFiles.get(follower.config().nodeId())))) {
      var r = member.call(Requests.put(ids++, "tls/member", "x").toBuilder().setForwarded(true).build());
      assertFalse(r.hasError(), r.toString());
      var ri = member.call(Request.newBuilder().setId(ids++).setReadIndex(ReadIndex.getDefaultInstance()).build());
      assertFalse(ri.hasError(), ri.toString());
    }
  }

  @Test
  void aReloadServesTheNewCertificateToNewConnectionsAndKeepsTheOpenOnes() throws Exception {
    var node = follower.config().nodeId();
    var files = nodeFiles.get(node);
    try (var open = app(follower)) {
      var before = serial(open);
      var fresh = certs.node("ca", node + "-rotated", node);
      Files.copy(fresh.certFile(), files.certFile(), StandardCopyOption.REPLACE_EXISTING);
      Files.copy(fresh.keyFile(), files.keyFile(), StandardCopyOption.REPLACE_EXISTING);
      follower.reloadTls();
      try (var after = app(follower)) {
        assertNotEquals(before, serial(after), "a new connection gets the rotated certificate");
        assertFalse(after.call(Requests.put(ids++, "tls/rotated", "x")).hasError());
      }
      assertFalse(open.call(Requests.put(ids++, "tls/still-open", "x")).hasError(), "the open connection goes on");
    }
  }

  @Test
  void theClientChecksTheServersHostName(@TempDir Path other) throws Exception {
    // A node whose certificate names only its node id, not 127.0.0.1: a client connecting to 127.0.0.1 refuses it.
    var files = certs.node("ca", "solo", "n1", "DNS:n1");
    try (var solo = KvraftServer.start(TestNodes.single(other, TestCerts.settings(files)))) {
      var e = assertThrows(IOException.class, () -> new RawClient(solo.clientPort(), context(client)).close());
      assertTrue(e.getMessage().contains("127.0.0.1"), e.getMessage());
    }
  }

  /** Issue #17: with TLS client auth, a certificate whose name is a user's is that user; no password needed. */
  @Test
  void aClientCertificateNamingAUserAuthenticatesAsThatUser(@TempDir Path other) throws Exception {
    var files = certs.node("ca", "solo", "n1");
    var alice = certs.node("ca", "alice", "alice");
    try (var node = KvraftServer.start(TestNodes.single(other, TestCerts.settings(files)))) {
      Nodes.awaitLeader(WAIT, node);
      try (var admin = new RawClient(node.clientPort(), context(client))) {
        for (var change : List.of(
            dev.kvraft.proto.AuthChange.newBuilder().setAction(dev.kvraft.proto.AuthChange.Action.USER_ADD)
                .setName("root").setPassword("root-pw"),
            dev.kvraft.proto.AuthChange.newBuilder().setAction(dev.kvraft.proto.AuthChange.Action.USER_GRANT_ROLE)
                .setName("root").setRole("root"),
            dev.kvraft.proto.AuthChange.newBuilder().setAction(dev.kvraft.proto.AuthChange.Action.USER_ADD)
                .setName("alice"),
            dev.kvraft.proto.AuthChange.newBuilder().setAction(dev.kvraft.proto.AuthChange.Action.ROLE_ADD)
                .setRole("rw"),
            dev.kvraft.proto.AuthChange.newBuilder().setAction(dev.kvraft.proto.AuthChange.Action.ROLE_GRANT)
                .setRole("rw").setPermission(dev.kvraft.proto.Permission.newBuilder()
                    .setType(dev.kvraft.proto.Permission.Type.READWRITE).setKey(Requests.b("a/"))
                    .setRangeEnd(Requests.b("a0"))),
            dev.kvraft.proto.AuthChange.newBuilder().setAction(dev.kvraft.proto.AuthChange.Action.USER_GRANT_ROLE)
                .setName("alice").setRole("rw"),
            dev.kvraft.proto.AuthChange.newBuilder().setAction(dev.kvraft.proto.AuthChange.Action.AUTH_ENABLE))) {
          var r = admin.call(dev.kvraft.proto.Request.newBuilder().setId(ids++).setAuthChange(change).build());
          assertFalse(r.hasError(), r.toString());
        }
        var anonymous = admin.call(Requests.put(ids++, "a/x", "1"));
        assertEquals(Error.Code.UNAUTHENTICATED, anonymous.getError().getCode(), "'app' names no user");
      }
      try (var c = new RawClient(node.clientPort(), context(alice))) {
        assertFalse(c.call(Requests.put(ids++, "a/x", "by alice's certificate")).hasError());
        var outside = c.call(Requests.put(ids++, "b/x", "1"));
        assertEquals(Error.Code.PERMISSION_DENIED, outside.getError().getCode(), outside.toString());
        assertTrue(outside.getError().getMessage().contains("alice"), outside.toString());
      }
    }
  }

  @Test
  void withClientAuthNoneClientsNeedNoCertificateButMembersStillDo(@TempDir Path other) throws Exception {
    var files = certs.node("ca", "open", "n1");
    try (var node = KvraftServer.start(TestNodes.single(other, TestCerts.settings(files, "tls.client.auth", "none")))) {
      Nodes.awaitLeader(WAIT, node);
      try (var anonymous = new RawClient(node.clientPort(), PemTls.trusting(files.caFile()).context())) {
        assertFalse(anonymous.call(Requests.put(ids++, "open/a", "x")).hasError());
        var forged = anonymous.call(Requests.put(ids++, "open/b", "x").toBuilder().setForwarded(true).build());
        assertEquals(Error.Code.PERMISSION_DENIED, forged.getError().getCode(), forged.toString());
      }
    }
  }

  @Test
  void stalledHandshakesAreCutAtTheDeadlineWhileARealClientIsServed(@TempDir Path other) throws Exception {
    var files = certs.node("ca", "flood", "n1");
    try (var node = KvraftServer.start(TestNodes.single(other, TestCerts.settings(files, "client.handshake.timeout.ms", "1000")))) {
      Nodes.awaitLeader(WAIT, node);
      var stalled = new ArrayList<Socket>();
      try {
        for (int i = 0; i < 300; i++) {
          var s = new Socket();
          s.connect(new InetSocketAddress("127.0.0.1", node.clientPort()), 2000);
          if (i % 3 == 0) {
            s.getOutputStream().write(new byte[] {0x16, 0x03, 0x01}); // the start of a ClientHello, then nothing
          } else if (i % 3 == 1) {
            s.getOutputStream().write(("GARBAGE " + i).getBytes()); // not TLS at all
          } // else: sends nothing
          stalled.add(s);
        }
        long start = System.nanoTime();
        try (var c = new RawClient(node.clientPort(), context(client))) {
          for (int i = 0; i < 50; i++) {
            assertFalse(c.call(Requests.put(ids++, "flood/" + i, "x")).hasError());
          }
        }
        for (var s : stalled) {
          s.setSoTimeout(5000);
          assertTrue(RawClient.closedByServer(s), "a stalled handshake is closed by the server");
        }
        // Closed at the deadline (1 s), not at the 5 s read timeout of this test.
        assertTrue(Duration.ofNanos(System.nanoTime() - start).compareTo(Duration.ofSeconds(5)) < 0,
            "all stalled handshakes were closed within a few seconds of the 1 s deadline");
      } finally {
        for (var s : stalled) {
          s.close();
        }
      }
    }
  }

  private void assertRefused(KvraftServer s, SSLContext context) throws Exception {
    // TLS 1.3: the client's handshake may complete before the server checks the client's certificate; the refusal
    // then shows at the first read. Either way no request is answered.
    try (var c = new RawClient(s.clientPort(), context)) {
      Response r;
      try {
        r = c.call(Requests.put(ids++, "tls/refused", "x"));
      } catch (IOException expected) {
        r = null;
      }
      assertNull(r, "a refused client gets no answer: " + r);
    } catch (IOException refusedAtHandshake) {
      // refused during the handshake
    }
    try (var c = app(leader)) {
      assertFalse(c.call(Requests.get(ids++, "tls/refused")).getGet().hasKv(), "nothing was written");
    }
  }

  private static Response readOrNull(RawClient c) {
    try {
      return c.read();
    } catch (IOException e) {
      return null;
    }
  }

  private static BigInteger serial(RawClient c) throws Exception {
    var session = ((SSLSocket) c.socket()).getSession();
    return ((X509Certificate) session.getPeerCertificates()[0]).getSerialNumber();
  }
}
