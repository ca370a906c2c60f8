package dev.kvraft.server;

import static org.junit.jupiter.api.Assertions.*;

import dev.kvraft.proto.Header;
import dev.kvraft.proto.PutResult;
import dev.kvraft.proto.Response;
import dev.kvraft.server.testing.Requests;
import dev.kvraft.server.testing.TestNodes;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * proto/PROTOCOL.md is enough to write a client: the Python client written from it alone (no protobuf library)
 * talks to a real node, and the document's worked example is byte for byte what protobuf writes.
 */
@Timeout(120)
class PythonClientTest {
  private static final Path CLIENT = Path.of("..", "proto", "examples", "kvclient.py");
  private static final Path PROTOCOL = Path.of("..", "proto", "PROTOCOL.md");

  private static String run(int port, String... args) throws Exception {
    var cmd = new ArrayList<>(List.of("python3", CLIENT.toString(), "--address", "127.0.0.1:" + port));
    cmd.addAll(List.of(args));
    var p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    try {
      var out = new ByteArrayOutputStream();
      p.getInputStream().transferTo(out);
      assertTrue(p.waitFor(30, TimeUnit.SECONDS), "kvclient.py did not finish");
      return "exit " + p.exitValue() + ": " + out.toString(StandardCharsets.UTF_8).strip();
    } finally {
      p.destroyForcibly();
    }
  }

  @Test
  void thePythonClientFromTheDocumentTalksToARealNode(@TempDir Path dir) throws Exception {
    Assumptions.assumeTrue(new ProcessBuilder("python3", "--version").start().waitFor() == 0,
        "python3 is not installed (apt-get install -y python3)");
    try (var server = KvraftServer.start(TestNodes.single(dir))) {
      int port = server.clientPort();
      assertEquals("exit 0: OK revision 1", run(port, "put", "greeting", "hello"));
      assertEquals("exit 0: hello (version 1, mod revision 1)", run(port, "get", "greeting"));
      assertEquals("exit 0: hello (version 1, mod revision 1)", run(port, "get", "greeting", "--stale"));
      assertEquals("exit 0: OK revision 2", run(port, "put", "greeting", "hi"));
      assertEquals("exit 0: deleted 1", run(port, "delete", "greeting"));
      assertEquals("exit 0: (not found)", run(port, "get", "greeting"));
      assertTrue(run(port, "status").matches("exit 0: node n1 leader revision 3"), run(port, "status"));
      var tooLong = "k".repeat(5000);
      assertEquals("exit 1: error TOO_LARGE: put: the key is 5000 bytes, over the limit of 4096 (limit.key.bytes)",
          run(port, "put", tooLong, "v"));
    }
  }

  @Test
  void thePythonClientTalksTlsWithItsOwnCertificate(@TempDir Path dir) throws Exception {
    Assumptions.assumeTrue(new ProcessBuilder("python3", "--version").start().waitFor() == 0,
        "python3 is not installed (apt-get install -y python3)");
    Assumptions.assumeTrue(dev.kvraft.server.testing.TestCerts.opensslPresent(), "openssl is missing");
    var certs = dev.kvraft.server.testing.TestCerts.in(dir);
    certs.ca("ca");
    var node = certs.node("ca", "n1", "n1");
    var client = certs.node("ca", "py", "py");
    try (var server = KvraftServer.start(TestNodes.single(dir.resolve("data"), dev.kvraft.server.testing.TestCerts.settings(node)))) {
      int port = server.clientPort();
      var tls = new String[] {"--cacert", node.caFile().toString(), "--cert", client.certFile().toString(),
          "--key", client.keyFile().toString()};
      assertEquals("exit 0: OK revision 1", run(port, concat(tls, "put", "secure", "yes")));
      assertEquals("exit 0: yes (version 1, mod revision 1)", run(port, concat(tls, "get", "secure")));
      assertEquals("exit 1: error PERMISSION_DENIED: this client port speaks TLS only: connect with TLS (kvsh"
          + " --cacert CA.pem, KvClient.Builder.tls)", run(port, "get", "secure"));
    }
  }

  private static String[] concat(String[] a, String... b) {
    var all = new ArrayList<>(List.of(a));
    all.addAll(List.of(b));
    return all.toArray(String[]::new);
  }

  @Test
  void theWorkedExampleIsWhatProtobufWrites() throws Exception {
    var doc = Files.readString(PROTOCOL).replaceAll(" +", " ");
    var request = new ByteArrayOutputStream();
    Requests.put(1, "k", "v").writeDelimitedTo(request);
    assertTrue(doc.contains(spaced(request.toByteArray())), "PROTOCOL.md shows " + spaced(request.toByteArray()));
    var response = new ByteArrayOutputStream();
    Response.newBuilder().setId(1).setHeader(Header.newBuilder().setRevision(1).setNodeId("n1").setTerm(2))
        .setPut(PutResult.getDefaultInstance()).build().writeDelimitedTo(response);
    assertTrue(doc.contains(spaced(response.toByteArray())), "PROTOCOL.md shows " + spaced(response.toByteArray()));
  }

  /** "0a 08 01 ...": bytes as the document writes them (it groups them with extra spaces, ignored above). */
  private static String spaced(byte[] bytes) {
    return HexFormat.ofDelimiter(" ").formatHex(bytes);
  }
}
