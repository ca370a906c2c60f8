package dev.kvraft.server.process;

import static dev.kvraft.server.testing.Requests.b;
import static dev.kvraft.server.testing.Requests.get;
import static dev.kvraft.server.testing.Requests.put;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvraft.server.testing.RawClient;
import dev.kvraft.server.testing.TestNodes;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The real server process: SIGTERM stops it cleanly, exit 0, within 5 s; a restart finds the data. */
@Timeout(120)
@Tag("slow") // processes, clusters or external tools: not in bin/test --fast
class SigtermTest {
  @TempDir
  Path dir;

  @Test
  void sigtermExitsZeroWithinFiveSecondsAndKeepsTheData() throws Exception {
    var config = TestNodes.single(dir.resolve("data"));
    var port = config.self().clientPort();
    try (var p = new ServerProcess(TestNodes.args(config), dir.resolve("n1.log"), port).start()) {
      p.awaitServing(Duration.ofSeconds(60));
      try (var c = new RawClient(port)) {
        var r = c.call(put(1, "survives", "sigterm"));
        assertFalse(r.hasError(), r.toString());
      }
      long start = System.nanoTime();
      int code = p.terminate(Duration.ofSeconds(5));
      var took = Duration.ofNanos(System.nanoTime() - start);
      assertEquals(0, code, "exit code after SIGTERM (took " + took + "); log:\n" + p.log());
      assertTrue(p.log().contains("node n1 stopped"), p.log());
    }
    try (var p = new ServerProcess(TestNodes.args(config), dir.resolve("n1.log"), port).start()) {
      p.awaitServing(Duration.ofSeconds(60));
      try (var c = new RawClient(port)) {
        assertEquals(b("sigterm"), c.call(get(2, "survives")).getGet().getKv().getValue());
      }
      assertEquals(0, p.terminate(Duration.ofSeconds(5)));
    }
  }

  @Test
  void badConfigurationExitsTwoWithAMessageNamingTheSetting() throws Exception {
    try (var p = new ServerProcess(java.util.List.of("--limit.key.bytes=huge"), dir.resolve("bad.log"), 1).start()) {
      assertTrue(p.process().waitFor(60, java.util.concurrent.TimeUnit.SECONDS));
      assertEquals(2, p.process().exitValue());
      assertTrue(p.log().contains("limit.key.bytes = 'huge' is not a whole number"), p.log());
    }
  }
}
