package dev.kvraft.server.process;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvraft.proto.PemTls;
import dev.kvraft.server.testing.Await;
import dev.kvraft.server.testing.RawClient;
import dev.kvraft.server.testing.Requests;
import dev.kvraft.server.testing.TestCerts;
import dev.kvraft.server.testing.TestNodes;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.Map;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real server process with TLS: SIGHUP (what {@code systemctl reload} sends) re-reads the certificate, so a
 * rotation needs no restart; a broken file on a later SIGHUP is one ERROR line naming it, and the node keeps serving
 * with the certificate it had.
 */
@Timeout(120)
@Tag("slow") // processes and openssl: not in bin/test --fast
class SighupTest {
  @TempDir
  Path dir;

  @Test
  void sighupRotatesTheCertificateAndABrokenFileKeepsTheOldOne() throws Exception {
    Assumptions.assumeTrue(TestCerts.opensslPresent(), "openssl is missing");
    var certs = TestCerts.in(dir);
    certs.ca("ca");
    var node = certs.node("ca", "n1", "n1");
    var client = certs.node("ca", "client", "client");
    var config = TestNodes.single(dir.resolve("data"), TestCerts.settings(node));
    var tls = PemTls.of(client.certFile(), client.keyFile(), client.caFile());
    int port = config.self().clientPort();
    try (var p = new ServerProcess(TestNodes.args(config), dir.resolve("n1.log"), port).start()) {
      p.awaitServing(Duration.ofSeconds(60));
      try (var open = new RawClient(port, tls.context())) {
        assertFalse(open.call(Requests.put(1, "before", "x")).hasError());
        var before = serial(open);

        var fresh = certs.node("ca", "n1-next", "n1");
        Files.copy(fresh.certFile(), node.certFile(), StandardCopyOption.REPLACE_EXISTING);
        Files.copy(fresh.keyFile(), node.keyFile(), StandardCopyOption.REPLACE_EXISTING);
        hup(p);
        Await.until("the node logs the reload", Duration.ofSeconds(20),
            () -> p.log().contains("SIGHUP: reloaded the TLS certificate"));
        try (var after = new RawClient(port, tls.context())) {
          assertNotEquals(before, serial(after), "a new connection gets the new certificate");
          assertFalse(after.call(Requests.put(2, "after", "x")).hasError());
        }
        assertFalse(open.call(Requests.put(3, "still-open", "x")).hasError(), "the open connection goes on");

        Files.writeString(node.keyFile(), "not a key");
        hup(p);
        Await.until("the node logs the failed reload", Duration.ofSeconds(20),
            () -> p.log().contains("SIGHUP: cannot reload TLS"));
        assertTrue(p.log().contains(node.keyFile().toString()), "the error names the file:\n" + p.log());
        try (var again = new RawClient(port, tls.context())) {
          assertFalse(again.call(Requests.put(4, "after-broken", "x")).hasError(), "still serving");
        }
      }
      assertTrue(p.terminate(Duration.ofSeconds(10)) == 0, p.log());
    }
  }

  private static void hup(ServerProcess p) throws Exception {
    var kill = new ProcessBuilder("kill", "-HUP", Long.toString(p.pid())).inheritIO().start();
    assertTrue(kill.waitFor() == 0, "kill -HUP failed");
  }

  private static BigInteger serial(RawClient c) throws Exception {
    var session = ((SSLSocket) c.socket()).getSession();
    return ((X509Certificate) session.getPeerCertificates()[0]).getSerialNumber();
  }
}
