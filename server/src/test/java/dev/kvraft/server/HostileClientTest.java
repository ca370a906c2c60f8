package dev.kvraft.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvraft.proto.Error;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Status;
import dev.kvraft.server.testing.RawClient;
import dev.kvraft.server.testing.TestNodes;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Map;
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

  private void start(Map<String, String> settings) throws IOException {
    server = KvraftServer.start(TestNodes.single(dir, settings));
    SingleNodeServerTest.awaitLeader(server);
  }

  @Test
  void connectionsPastTheLimitGetOverloadedAndTheNodeServesTheOthers() throws IOException {
    start(Map.of("limit.connections", "3"));
    var held = new ArrayList<RawClient>();
    try {
      // Fill the limit with served connections; the leader poll's connection may still count for a moment.
      long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
      while (held.size() < 3 && System.nanoTime() < deadline) {
        var c = new RawClient(server.clientPort());
        var r = c.call(STATUS);
        if (r != null && r.getId() == 7 && !r.hasError()) {
          held.add(c);
        } else {
          c.close();
        }
      }
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
  void bareOversizeLengthPrefixIsAnsweredAtOnce() throws IOException {
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
}
