package dev.kvraft.server.net;

import static org.junit.jupiter.api.Assertions.*;

import dev.kvraft.proto.PemTls;
import dev.kvraft.server.KvraftServer;
import dev.kvraft.server.testing.Nodes;
import dev.kvraft.server.testing.RawClient;
import dev.kvraft.server.testing.Requests;
import dev.kvraft.server.testing.TestCerts;
import dev.kvraft.server.testing.TestNodes;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import javax.net.ssl.SSLContext;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A slowloris over TLS: {@code client.frame.timeout.ms} bounds a frame however its bytes trickle in, also when they
 * trickle inside one TLS record. The server's TLS layer reads a whole record before it returns any of it, each byte
 * under a fresh socket read timeout, so the frame's deadline, armed once per read, was never checked again: a client
 * sending a record one byte every 100 ms held its connection (and its frame's room in
 * {@code limit.partial.frames.bytes} and {@code limit.inflight.bytes}) for hours.
 */
@Tag("slow") // openssl and a real node: not in bin/test --fast
@Timeout(120)
class TlsSlowlorisTest {
  private static final Duration WAIT = Duration.ofSeconds(20);

  @Test
  void aFrameTricklingInsideOneTlsRecordIsCutAtTheFrameTimeout(@TempDir Path dir) throws Exception {
    Assumptions.assumeTrue(TestCerts.opensslPresent(), "openssl is missing");
    var certs = TestCerts.in(dir);
    certs.ca("ca");
    var nodeFiles = certs.node("ca", "n1", "n1");
    var clientFiles = certs.node("ca", "app", "app");
    SSLContext client = PemTls.of(clientFiles.certFile(), clientFiles.keyFile(), clientFiles.caFile()).context();
    try (var node = KvraftServer.start(TestNodes.single(dir.resolve("node"),
        TestCerts.settings(nodeFiles, "client.frame.timeout.ms", "500")))) {
      Nodes.awaitLeader(WAIT, node);
      var tcp = new Socket();
      tcp.connect(new InetSocketAddress("127.0.0.1", node.clientPort()), 2000);
      tcp.setTcpNoDelay(true);
      var stop = new AtomicBoolean();
      try (var ssl = PemTls.handshake(client, tcp, "127.0.0.1", node.clientPort(), 5000)) {
        // Served first: the handshake is done on both sides (TLS 1.3 checks the client's certificate after it).
        var out = ssl.getOutputStream();
        Requests.put(1, "k", "v").writeDelimitedTo(out);
        out.flush();
        var answer = dev.kvraft.proto.Response.parseDelimitedFrom(ssl.getInputStream());
        assertFalse(answer.hasError(), answer.toString());
        // A 100-byte frame starts: its length and first byte in one record...
        out.write(new byte[] {100, 0x08});
        out.flush();
        // ...and the next record announces 16 KiB and arrives a byte every 100 ms, straight on the TCP socket.
        var raw = tcp.getOutputStream();
        raw.write(new byte[] {0x17, 0x03, 0x03, 0x40, 0x00});
        raw.flush();
        long start = System.nanoTime();
        var trickle = Thread.ofVirtual().name("test-trickle").start(() -> {
          try {
            while (!stop.get()) {
              raw.write(0x55);
              raw.flush();
              Thread.sleep(100);
            }
          } catch (IOException | InterruptedException e) {
            // closed by the server
          }
        });
        tcp.setSoTimeout(6000);
        assertTrue(RawClient.closedByServer(tcp),
            "the trickling frame's connection is still open 6 s after it started");
        var took = Duration.ofNanos(System.nanoTime() - start);
        assertTrue(took.compareTo(Duration.ofSeconds(4)) < 0,
            "closed " + took.toMillis() + " ms after the frame started; client.frame.timeout.ms is 500");
        stop.set(true);
        trickle.join();
      } finally {
        stop.set(true);
        tcp.close();
      }
      try (var c = new RawClient(node.clientPort(), client)) {
        assertEquals("v", c.call(Requests.get(2, "k")).getGet().getKv().getValue().toStringUtf8(),
            "the node still serves a normal client");
      }
    }
  }
}
