package dev.kvraft.server.net;

import static org.junit.jupiter.api.Assertions.*;

import dev.kvraft.proto.Error;
import dev.kvraft.proto.PemTls;
import dev.kvraft.proto.ReadIndex;
import dev.kvraft.proto.Request;
import dev.kvraft.server.auth.AuthState;
import dev.kvraft.server.raft.tls.TlsSettings;
import dev.kvraft.server.testing.RawClient;
import dev.kvraft.server.testing.Requests;
import dev.kvraft.server.testing.TestCerts;
import dev.kvraft.server.testing.TestNodes;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * With TLS, a connection is a member's when its certificate names a member, and the members are the leader's Raft
 * configuration as it is at each request: a node being added may open its link to the leader before the leader's
 * configuration names it (it learns the leader while the leader catches it up), keeps that link, and must be taken
 * as a member from the moment it is one. Found by {@code kvraft-torture --tls} (membership_leader_kill): such a node
 * had every client write refused PERMISSION_DENIED until its link broke. A real TLS {@link ClientListener} whose
 * member ids the test sets, in front of a loop that answers every request it is handed.
 */
@Timeout(60)
class MemberCertificateTest {
  @TempDir
  Path dir;
  private final AnsweringLoop loop = new AnsweringLoop();
  private volatile Set<String> members = Set.of("n1", "n2");
  private ClientListener listener;
  private TlsSettings n3;

  @BeforeEach
  void start() throws Exception {
    Assumptions.assumeTrue(TestCerts.opensslPresent(), "openssl is missing");
    var certs = TestCerts.in(dir);
    certs.ca("ca");
    var n1 = certs.node("ca", "n1", "n1");
    n3 = certs.node("ca", "n3", "n3");
    var config = TestNodes.single(dir.resolve("n1"), TestCerts.settings(n1));
    listener = new ClientListener(config, loop, ClientTls.load(config.tls().orElseThrow()),
        Members.byCertificate(() -> members), null, () -> new AuthState.View(false, Map.of(), Map.of()));
    listener.start();
  }

  @AfterEach
  void stop() throws Exception {
    if (listener != null) {
      listener.close();
    }
  }

  private static Request forwardedPut(long id) {
    return Requests.put(id, "k" + id, "v").toBuilder().setForwarded(true).build();
  }

  @Test
  void aNodeThatConnectedBeforeItWasAddedIsAMemberOnceTheConfigurationNamesIt() throws Exception {
    var context = PemTls.of(n3.certFile(), n3.keyFile(), n3.caFile()).context();
    try (var c = new RawClient(listener.port(), context)) {
      var early = c.call(forwardedPut(1));
      assertEquals(Error.Code.PERMISSION_DENIED, early.getError().getCode(), "n3 is not a member yet: " + early);
      assertTrue(early.getError().getNotMember(), "marked, so that the follower retries it: " + early);
      assertTrue(early.getError().getMessage().contains("certificate names [localhost, n3], and the members are"
          + " [n1, n2]"), early.getError().getMessage());
      var earlyRead = c.call(Request.newBuilder().setId(2).setReadIndex(ReadIndex.getDefaultInstance()).build());
      assertEquals(Error.Code.PERMISSION_DENIED, earlyRead.getError().getCode(), earlyRead.toString());
      assertTrue(earlyRead.getError().getNotMember(), earlyRead.toString());
      assertEquals(List.of(), loop.handed(), "nothing reaches the loop from a non-member");

      members = Set.of("n1", "n2", "n3"); // the member add applied on the leader
      var read = c.call(Request.newBuilder().setId(3).setReadIndex(ReadIndex.getDefaultInstance()).build());
      assertFalse(read.hasError(), "the same connection is a member's now: " + read);
      var put = c.call(forwardedPut(4));
      assertFalse(put.hasError(), put.toString());
      assertEquals(List.of(3L, 4L), loop.handed());
      // A member's request keeps the user its follower wrote (the client's, authenticated there).
      assertFalse(c.call(asRoot(5)).hasError());
      assertEquals("root", loop.requests.getLast().getUser());

      members = Set.of("n1", "n2"); // n3 removed: its link, still open, is a member's no more
      // Its next request, even a plain one, no longer keeps the user written in it: it runs as the connection's own.
      assertFalse(c.call(asRoot(6)).hasError());
      assertNotEquals("root", loop.requests.getLast().getUser(), loop.requests.getLast().toString());
      var removed = c.call(forwardedPut(7));
      assertEquals(Error.Code.PERMISSION_DENIED, removed.getError().getCode(), removed.toString());
      assertTrue(removed.getError().getNotMember(), removed.toString());
      assertEquals(List.of(3L, 4L, 5L, 6L), loop.handed(), "no forward reaches the loop");
    }
  }

  private static Request asRoot(long id) {
    return Requests.put(id, "k" + id, "v").toBuilder().setUser("root").build();
  }

  @Test
  void anOrdinaryClientsForwardedPutIsRefusedAndItsPlainPutGoesThrough() throws Exception {
    // An ordinary client's certificate: its forwarded put is refused as not a member's; its plain put goes through.
    var client = TestCerts.in(dir).node("ca", "app", "app");
    try (var c = new RawClient(listener.port(), PemTls.of(client.certFile(), client.keyFile(), client.caFile())
        .context())) {
      var forged = c.call(forwardedPut(1));
      assertEquals(Error.Code.PERMISSION_DENIED, forged.getError().getCode(), forged.toString());
      assertTrue(forged.getError().getMessage().contains("send the request without 'forwarded'"),
          forged.getError().getMessage());
      assertFalse(c.call(Requests.put(2, "k2", "v")).hasError());
      assertEquals(List.of(2L), loop.handed());
    }
  }
}
