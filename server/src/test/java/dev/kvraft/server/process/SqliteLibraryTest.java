package dev.kvraft.server.process;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvraft.server.testing.TestNodes;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * SQLite's native library comes from a copy in {@code data.dir/native}: a node that is killed leaves nothing in the
 * system's temporary directory (sqlite-jdbc's own copy there outlives a SIGKILL), a restart reuses the copy, an
 * older version's copy is removed, and one cut short is written again. Where no copy can be kept, the node starts as before. Real server processes, each
 * with a temporary directory of its own ({@code java.io.tmpdir}).
 */
@Timeout(180)
@Tag("slow") // processes: not in bin/test --fast
class SqliteLibraryTest {
  @TempDir
  Path dir;

  @Test
  void aKilledNodeLeavesNoCopyInTmpAndARestartReusesItsOwn() throws Exception {
    var config = TestNodes.single(dir.resolve("data"));
    var data = config.dataDir();
    var tmp = Files.createDirectories(dir.resolve("tmp"));
    runThenKill(config, tmp, "");
    assertEquals(List.of(), sqliteFiles(tmp), "sqlite-jdbc's copies left in java.io.tmpdir");
    var copies = copies(data);
    assertEquals(1, copies.size(), "copies in data.dir/native: " + copies);
    var copy = copies.get(0);
    var written = Files.getLastModifiedTime(copy);
    var older = Files.writeString(data.resolve("native/libsqlitejdbc-3.0.0-00000000.so"), "an older version's");

    runThenKill(config, tmp, "");
    assertEquals(List.of(copy), copies(data), "the same copy, and the older version's removed");
    assertEquals(written, Files.getLastModifiedTime(copy), "reused, not written again");
    assertFalse(Files.exists(older));
    assertEquals(List.of(), sqliteFiles(tmp));

    // A copy cut short (it is not fsynced: a crash right after writing it) is written again, not loaded as it is.
    long size = Files.size(copy);
    try (var file = java.nio.channels.FileChannel.open(copy, java.nio.file.StandardOpenOption.WRITE)) {
      file.truncate(size / 2);
    }
    var log = runThenKill(config, tmp, "");
    assertEquals(size, Files.size(copy), "written again whole");
    assertFalse(log.contains("could not be kept"), log);
    assertEquals(List.of(), sqliteFiles(tmp));
  }

  @Test
  void withoutTheCopyAKilledNodeLeavesOneInTmp() throws Exception {
    // What the test above guards against, shown with the copy turned off the way an operator can (naming a path).
    var tmp = Files.createDirectories(dir.resolve("tmp"));
    runThenKill(TestNodes.single(dir.resolve("data")), tmp, "-Dorg.sqlite.lib.path=");
    assertEquals(1, sqliteFiles(tmp).stream().filter(n -> n.endsWith(".so")).count(), "in tmp: " + sqliteFiles(tmp));
  }

  @Test
  void whereNoCopyCanBeKeptTheNodeStartsAsBeforeAndSaysSo() throws Exception {
    var config = TestNodes.single(dir.resolve("data"));
    Files.createDirectories(config.dataDir());
    Files.writeString(config.dataDir().resolve("native"), "a file where the directory would go");
    var tmp = Files.createDirectories(dir.resolve("tmp"));
    var log = runThenKill(config, tmp, "");
    assertTrue(log.contains("SQLite's native library could not be kept in"), log);
    assertFalse(sqliteFiles(tmp).isEmpty(), "sqlite-jdbc wrote its own copy");
  }

  /** Starts a node with {@code tmp} as its java.io.tmpdir, waits until it serves, SIGKILLs it; its log. */
  private String runThenKill(dev.kvraft.server.config.ServerConfig config, Path tmp, String jvmOptions)
      throws Exception {
    var port = config.self().clientPort();
    var env = Map.of("JAVA_TOOL_OPTIONS", ("-Djava.io.tmpdir=" + tmp + " " + jvmOptions).strip());
    try (var p = new ServerProcess(TestNodes.args(config), dir.resolve("n1.log"), port, env).start()) {
      p.awaitServing(Duration.ofSeconds(60));
      p.process().destroyForcibly();
      assertTrue(p.process().waitFor(30, TimeUnit.SECONDS));
      return p.log();
    }
  }

  private static List<String> sqliteFiles(Path tmp) throws IOException {
    try (var files = Files.list(tmp)) {
      return files.map(f -> f.getFileName().toString()).filter(n -> n.startsWith("sqlite-")).sorted().toList();
    }
  }

  private static List<Path> copies(Path data) throws IOException {
    try (var files = Files.list(data.resolve("native"))) {
      return files.sorted().toList();
    }
  }
}
