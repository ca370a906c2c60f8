package dev.kvraft.server.raft.tls;

import dev.kvraft.server.testing.TestCerts;

import static org.junit.jupiter.api.Assertions.*;

import dev.kvraft.server.KvraftServer;
import dev.kvraft.server.config.ServerConfig;
import dev.kvraft.server.testing.Nodes;
import dev.kvraft.server.testing.RawClient;
import dev.kvraft.server.testing.Requests;
import dev.kvraft.server.testing.TestNodes;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Three real kvraft nodes whose Raft transport is kvraft's mutual-TLS Netty transport, selected by the tls.* settings
 * (issue #16): writes through a follower commit on every node, and a config that names only some of the files is
 * refused with the settings it needs. The client port's TLS is tested in {@code net.ClientTlsTest}.
 */
@Tag("slow") // openssl and a three-node cluster: not in bin/test --fast
@Timeout(120)
class TlsClusterTest {
  private static final Duration WAIT = Duration.ofSeconds(30);
  private final List<KvraftServer> servers = new ArrayList<>();

  @AfterEach
  void stop() {
    servers.forEach(KvraftServer::close);
  }

  @Test
  void aClusterWhoseRaftTransportIsMutualTlsCommitsThroughEveryNode(@TempDir Path dir) throws Exception {
    Assumptions.assumeTrue(TestCerts.opensslPresent(), "openssl is missing");
    var certs = TestCerts.in(dir);
    certs.ca("ca");
    var files = new java.util.HashMap<String, TlsSettings>();
    for (var id : List.of("n1", "n2", "n3")) {
      files.put(id, certs.node("ca", id, id));
    }
    var configs = TestNodes.cluster(dir, 3, Map.of(), id -> TestCerts.settings(files.get(id)));
    for (var c : configs) {
      servers.add(KvraftServer.start(c));
    }
    var leader = Nodes.awaitLeader(WAIT, servers);
    var follower = servers.stream().filter(s -> s != leader).findFirst().orElseThrow();
    try (var c = RawClient.to(follower)) {
      for (int i = 0; i < 20; i++) {
        var r = c.call(Requests.put(i + 1, "tls/" + i, "v" + i));
        assertFalse(r.hasError(), r.toString());
      }
    }
    // A reload (SIGHUP) re-reads the files; a broken file keeps the old certificate and the node serving.
    leader.reloadTls();
    assertTrue(leader.statusLine().contains("TLS (reloaded 1x)"), leader.statusLine());
    var certFile = files.get(idOf(leader)).certFile();
    var good = java.nio.file.Files.readAllBytes(certFile);
    java.nio.file.Files.writeString(certFile, "not a certificate");
    leader.reloadTls();
    assertTrue(leader.statusLine().contains("reloaded 1x"), "a failed reload is not counted: " + leader.statusLine());
    java.nio.file.Files.write(certFile, good); // the test's own clients read the node's files
    try (var c = RawClient.to(follower)) {
      assertFalse(c.call(Requests.put(100, "tls/after-reload", "ok")).hasError());
    }
    long applied = Nodes.status(leader).getAppliedIndex();
    for (var s : servers) {
      Nodes.awaitApplied(s, applied, WAIT);
      try (var c = RawClient.to(s)) {
        assertEquals("v19", c.call(Requests.staleGet(1, "tls/19")).getGet().getKv().getValue().toStringUtf8());
      }
    }
  }

  @Test
  void tlsNeedsAllThreeFiles(@TempDir Path dir) {
    var e = assertThrows(IllegalArgumentException.class,
        () -> TestNodes.single(dir, Map.of("tls.cert.file", "/etc/kvraft/tls/n1.pem")));
    assertTrue(e.getMessage().contains("tls.key.file") && e.getMessage().contains("tls.ca.file"), e.getMessage());
    assertTrue(ServerConfig.defaults().tls().isEmpty(), "no TLS settings: plaintext as before");
  }

  private static String idOf(KvraftServer s) {
    return s.config().nodeId();
  }
}
