package dev.kvraft.server.raft.tls;

import dev.kvraft.server.testing.TestCerts;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.apache.ratis.protocol.Message;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

@Tag("slow") // processes, clusters or external tools: not in bin/test --fast
class TlsRaftTransportTest {
  private static final Duration DEADLINE = Duration.ofSeconds(30);

  @TempDir static Path certDir;
  @TempDir Path data;

  private static TestCerts certs;

  @BeforeAll
  static void makeCerts() throws Exception {
    certs = TestCerts.in(certDir);
    certs.ca("ca");
    certs.ca("other-ca");
    for (var n : new String[] {"n1", "n2", "n3"}) {
      certs.node("ca", n, n);
    }
  }

  private static TlsNettyTransport tls(String ca, String stem, String name) throws Exception {
    return TlsNettyTransport.load(certs.node(ca, stem, name));
  }

  private static void commit(RaftHarness h, TlsNettyTransport as, int n) throws IOException {
    try (var c = h.client(as, 20)) {
      for (int i = 0; i < n; i++) {
        assertTrue(c.io().send(Message.valueOf("x" + i)).isSuccess(), "commit " + i);
      }
    }
  }

  @Test
  void threeNodesOverTlsElectALeaderAndCommit() throws Exception {
    try (var h = new RaftHarness()) {
      for (int i = 1; i <= 3; i++) {
        h.start(i, tls("ca", "n" + i, "n" + i), data);
      }
      commit(h, tls("ca", "n1", "n1"), 10);
      for (var c : h.counters) {
        RaftHarness.await("all three nodes applied 10 entries", DEADLINE, () -> c.applied.get() == 10);
      }
    }
  }

  @Test
  void aRestartedPeerIsReconnectedAndCatchesUp() throws Exception {
    try (var h = new RaftHarness()) {
      for (int i = 1; i <= 3; i++) {
        h.start(i, tls("ca", "n" + i, "n" + i), data);
      }
      var n1 = tls("ca", "n1", "n1");
      commit(h, n1, 3);
      h.servers.get(2).close();
      var restarted = h.start(3, tls("ca", "n3", "n3"), data);
      commit(h, n1, 3);
      RaftHarness.await("the restarted n3 applied all 6 entries", DEADLINE, () -> restarted.applied.get() == 6);
    }
  }

  /** n3's port is held by a node whose certificate is from another CA; n1 and n2 carry on without it. */
  @Test
  void peerWithCertificateFromAnotherCaIsRefused() throws Exception {
    rogueThirdNodeGetsNothing(tls("other-ca", "rogue-ca-n3", "n3"));
  }

  /** n3's port is held by a node with a valid-CA certificate that names n2, not n3. */
  @Test
  void peerWhoseCertificateNamesAnotherNodeIsRefused() throws Exception {
    rogueThirdNodeGetsNothing(tls("ca", "rogue-id-n3", "n2"));
  }

  private void rogueThirdNodeGetsNothing(TlsNettyTransport rogue) throws Exception {
    try (var h = new RaftHarness()) {
      var n1 = h.start(1, tls("ca", "n1", "n1"), data);
      var n2 = h.start(2, tls("ca", "n2", "n2"), data);
      var n3 = h.start(3, rogue, data);
      commit(h, tls("ca", "n1", "n1"), 5);
      RaftHarness.await("n1 and n2 applied 5 entries", DEADLINE, () -> n1.applied.get() == 5 && n2.applied.get() == 5);
      assertEquals(0, n3.applied.get(), "the refused peer must not have received any entry");
      assertTrue(h.servers.get(2).getDivision(h.group.getGroupId()).getInfo().isFollower()
          || h.servers.get(2).getDivision(h.group.getGroupId()).getInfo().isCandidate(),
          "the refused peer must not lead");
    }
  }

  @Test
  void clientWithCertificateFromAnotherCaIsRefused() throws Exception {
    try (var h = new RaftHarness()) {
      for (int i = 1; i <= 3; i++) {
        h.start(i, tls("ca", "n" + i, "n" + i), data);
      }
      try (var c = h.client(tls("other-ca", "foreign-n1", "n1"), 2)) {
        assertThrows(IOException.class, () -> c.io().send(Message.valueOf("x")));
      }
      commit(h, tls("ca", "n1", "n1"), 1);
      for (var c : h.counters) {
        RaftHarness.await("one entry applied", DEADLINE, () -> c.applied.get() == 1);
      }
    }
  }

  @Test
  void plaintextRatisClientGetsNothingProcessed() throws Exception {
    try (var h = new RaftHarness()) {
      for (int i = 1; i <= 3; i++) {
        h.start(i, tls("ca", "n" + i, "n" + i), data);
      }
      try (var c = h.client(null, 2)) {
        assertThrows(IOException.class, () -> c.io().send(Message.valueOf("x")));
      }
      commit(h, tls("ca", "n1", "n1"), 1);
      for (var c : h.counters) {
        RaftHarness.await("exactly the one TLS entry applied", DEADLINE, () -> c.applied.get() == 1);
      }
    }
  }

  @Test
  void reloadRereadsTheFilesAndKeepsTheOldMaterialOnError() throws Exception {
    var settings = certs.node("ca", "reload", "n1");
    var t = TlsNettyTransport.load(settings);
    var before = t.contexts();
    t.reload();
    assertTrue(before != t.contexts(), "reload must build new contexts");
    var current = t.contexts();
    Files.delete(settings.keyFile());
    var e = assertThrows(IOException.class, t::reload);
    assertTrue(e.getMessage().contains(settings.keyFile().toString()), e.getMessage());
    assertTrue(current == t.contexts(), "a failed reload keeps the old material");
  }

  @Test
  void aKeyThatIsNotTheCertificatesIsRefusedAndTheOldMaterialKept() throws Exception {
    var settings = certs.node("ca", "half-rotated", "n1");
    var t = TlsNettyTransport.load(settings);
    var current = t.contexts();
    // A rotation half done: the files hold a certificate and a key that do not belong together.
    Files.copy(certDir.resolve("n2.key"), settings.keyFile(), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    var e = assertThrows(IOException.class, t::reload);
    assertTrue(e.getMessage().contains(settings.keyFile().toString())
        && e.getMessage().contains("not the private key of the certificate in " + settings.certFile()), e.getMessage());
    assertTrue(current == t.contexts(), "a refused reload keeps the old material");
    assertThrows(IOException.class, () -> TlsNettyTransport.load(settings), "a node must not start with the pair");
    // The client port, the forwarding link and kvsh read the same files through PemTls.
    var pem = dev.kvraft.proto.PemTls.of(settings.certFile(), settings.keyFile(), settings.caFile());
    var e2 = assertThrows(IOException.class, pem::context);
    assertTrue(e2.getMessage().contains("not the private key"), e2.getMessage());
  }
}
