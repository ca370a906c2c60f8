package dev.kvraft.server.process;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvraft.server.testing.TestNodes;
import java.io.IOException;
import java.net.DatagramPacket;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.newsclub.net.unix.AFUNIXDatagramSocket;
import org.newsclub.net.unix.AFUNIXSocketAddress;

/** The server process under a fake $NOTIFY_SOCKET, as systemd runs it with Type=notify. */
@Timeout(120)
@Tag("slow") // processes, clusters or external tools: not in bin/test --fast
class SystemdNotifyTest {
  @TempDir
  Path dir;

  private static String receive(AFUNIXDatagramSocket s) throws IOException {
    var buf = new byte[4096];
    var p = new DatagramPacket(buf, buf.length);
    s.receive(p);
    return new String(buf, 0, p.getLength(), StandardCharsets.UTF_8);
  }

  @Test
  void readyOnlyOnceClientsCanConnectThenStoppingOnSigtermAndExitZero() throws Exception {
    var config = TestNodes.single(dir.resolve("data"));
    var socketPath = dir.resolve("notify.sock");
    try (var notify = AFUNIXDatagramSocket.newInstance()) {
      notify.bind(AFUNIXSocketAddress.of(socketPath));
      notify.setSoTimeout((int) Duration.ofSeconds(60).toMillis());
      try (var p = new ServerProcess(TestNodes.args(config), dir.resolve("n1.log"), config.self().clientPort(),
          Map.of("NOTIFY_SOCKET", socketPath.toString())).start()) {
        var ready = receive(notify);
        assertTrue(ready.contains("READY=1"), ready);
        assertTrue(ready.contains("STATUS=node n1"), ready);
        // READY came only after the client port accepts: connecting now must work at once.
        try (var s = new Socket()) {
          s.connect(new InetSocketAddress("127.0.0.1", config.self().clientPort()), 1000);
        }
        var status = receive(notify);
        assertTrue(status.startsWith("STATUS=node n1"), status);
        p.process().destroy();
        String stopping;
        do {
          stopping = receive(notify);
        } while (!stopping.contains("STOPPING=1"));
        assertTrue(p.process().waitFor(10, java.util.concurrent.TimeUnit.SECONDS), "did not exit after SIGTERM");
        assertEquals(0, p.process().exitValue(), p.log());
      }
    }
  }

  @Test
  void withoutNotifySocketNothingIsSentAndNothingBreaks() throws Exception {
    var config = TestNodes.single(dir.resolve("data2"));
    try (var p = new ServerProcess(TestNodes.args(config), dir.resolve("n1b.log"), config.self().clientPort())
        .start()) {
      p.awaitServing(Duration.ofSeconds(60));
      assertEquals(0, p.terminate(Duration.ofSeconds(10)));
      assertTrue(!p.log().contains("cannot notify systemd"), p.log());
    }
  }
}
