package dev.kvraft.server.process;

import static dev.kvraft.server.testing.Requests.put;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvraft.server.testing.RawClient;
import dev.kvraft.server.testing.TestNodes;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * When Ratis dies inside the process the node cannot serve anything correctly any more: it must exit 1 so that
 * systemd's {@code Restart=on-failure} restarts it, rather than linger with an open client port.
 */
@Timeout(120)
@Tag("slow") // processes, clusters or external tools: not in bin/test --fast
class WatchdogTest {
  @TempDir
  Path dir;

  @Test
  void aNodeWhoseRaftLogFailsExitsOneWithAMessage() throws Exception {
    // Small segments, so that writes soon make Ratis roll its open segment, which then fails: the segment
    // directory is gone.
    var config = TestNodes.single(dir.resolve("data"), Map.of("raft.segment.bytes", "65536"));
    var port = config.self().clientPort();
    var value = "x".repeat(3000);
    try (var p = new ServerProcess(TestNodes.args(config), dir.resolve("n1.log"), port).start()) {
      p.awaitServing(Duration.ofSeconds(60));
      try (var c = new RawClient(port)) {
        var r = c.call(put(1, "before", value));
        assertFalse(r.hasError(), r.toString());
      }
      deleteSegmentDirectories(config.dataDir().resolve("ratis"));

      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      for (int i = 2; p.isAlive() && System.nanoTime() < deadline; i++) {
        try (var c = new RawClient(port)) {
          c.call(put(i, "after" + i, value));
        } catch (IOException e) {
          // The node is going away: what this test waits for.
        }
      }
      assertTrue(p.process().waitFor(10, TimeUnit.SECONDS), "the node is still running; log:\n" + p.log());
      assertEquals(1, p.process().exitValue(), "exit code; log:\n" + p.log());
      assertTrue(p.log().contains("Raft stopped working"), p.log());
    }
  }

  @Test
  void aNodeWhoseDiskFillsUpExitsOneWithAMessage() throws Exception {
    var disk = tmpfs("small-disk", "24m", "disk-full");
    try {
      // No reserve: this test is about a disk that really fills up.
      var config = TestNodes.single(disk.resolve("data"), Map.of("raft.segment.bytes", "1048576",
          "storage.reserve.bytes", "1"));
      var port = config.self().clientPort();
      var value = "y".repeat(30_000);
      try (var p = new ServerProcess(TestNodes.args(config), dir.resolve("n1.log"), port).start()) {
        p.awaitServing(Duration.ofSeconds(60));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        for (int i = 1; p.isAlive() && System.nanoTime() < deadline; i++) {
          try (var c = new RawClient(port)) {
            c.call(put(i, "k" + (i % 50), value));
          } catch (IOException e) {
            // The node is going away: what this test waits for.
          }
        }
        assertTrue(p.process().waitFor(10, TimeUnit.SECONDS), "the node is still running; log:\n" + p.log());
        assertEquals(1, p.process().exitValue(), "exit code; log:\n" + p.log());
        assertTrue(p.log().contains("Raft stopped working"), p.log());
      }
    } finally {
      unmount(disk);
    }
  }

  @Test
  void aDiskAboutToFillUpRaisesTheAlarmAndTheNodeServesReads() throws Exception {
    var disk = tmpfs("small-disk2", "64m", "disk-reserve");
    try {
      var config = TestNodes.single(disk.resolve("data"), Map.of("raft.segment.bytes", "1048576",
          "storage.reserve.bytes", String.valueOf(32 << 20)));
      var port = config.self().clientPort();
      // At 4 KB a CI run filled 64 MiB in 5 s (the Raft log, and kvraft.db with its WAL, each take the bytes), faster
      // than a 16 MiB reserve checked every second could stop: 2 KB against a 32 MiB reserve leaves seconds.
      var value = "y".repeat(2_000);
      try (var p = new ServerProcess(TestNodes.args(config), dir.resolve("n1-reserve.log"), port).start()) {
        p.awaitServing(Duration.ofSeconds(60));
        dev.kvraft.proto.Response last = null;
        try (var c = new RawClient(port)) {
          long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
          for (int i = 1; System.nanoTime() < deadline; i++) {
            last = c.call(put(i, "k" + (i % 50), value));
            assertNotNull(last, "the node closed the connection; log:\n" + p.log());
            if (last.hasError()) {
              break;
            }
          }
          assertNotNull(last);
          assertEquals(dev.kvraft.proto.Error.Code.RESOURCE_EXHAUSTED, last.getError().getCode(), last.toString());
          assertTrue(p.isAlive(), "the node keeps running; log:\n" + p.log());
          var read = c.call(dev.kvraft.server.testing.Requests.get(1_000_000, "k1"));
          assertFalse(read.hasError(), "reads go on: " + read);
          assertTrue(read.getGet().hasKv(), "some writes went in before the alarm: " + read);
        }
        assertTrue(p.log().contains("under storage.reserve.bytes"), p.log());
      }
    } finally {
      unmount(disk);
    }
  }

  /** A tmpfs of {@code size} mounted at {@code dir/name}; the test is skipped, saying so, where it cannot be. */
  private Path tmpfs(String name, String size, String test) throws IOException, InterruptedException {
    var disk = Files.createDirectories(dir.resolve(name));
    var mount = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs", disk.toString())
        .redirectErrorStream(true).start();
    var why = new String(mount.getInputStream().readAllBytes()).strip();
    Assumptions.assumeTrue(mount.waitFor() == 0,
        test + " test SKIPPED: cannot mount a small tmpfs here (" + why + "); run as root");
    return disk;
  }

  private static void unmount(Path disk) throws IOException, InterruptedException {
    new ProcessBuilder("umount", "-l", disk.toString()).start().waitFor();
  }

  /** Removes {@code ratis/<group>/current} (segments and Raft metadata) under the node's data directory. */
  private static void deleteSegmentDirectories(Path ratis) throws IOException {
    try (var groups = Files.list(ratis)) {
      for (var group : groups.filter(Files::isDirectory).toList()) {
        var current = group.resolve("current");
        if (Files.isDirectory(current)) {
          try (Stream<Path> walk = Files.walk(current)) {
            for (var f : walk.sorted(Comparator.reverseOrder()).toList()) {
              Files.delete(f);
            }
          }
        }
      }
    }
  }
}
