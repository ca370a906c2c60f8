package dev.kvraft.systemd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvraft.server.KvraftServer;
import dev.kvraft.server.testing.TestNodes;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** bin/kvraft-backup against one in-JVM node on free ports. Uses the packaged jars as they are. */
@Timeout(120)
@Tag("slow") // runs the launcher and a kvsh process
class BackupScriptTest {
  static final Path BIN = Path.of("").toAbsolutePath().getParent().resolve("bin");

  /** --dir is a path, written as the operator wrote it: spaces and quotes are part of it. */
  @Test
  void aBackupDirectoryWithSpacesAndQuotesIsUsedAsGiven(@TempDir Path tmp) throws Exception {
    try (var server = KvraftServer.start(TestNodes.single(tmp.resolve("node")))) {
      var backups = tmp.resolve("nightly backups of 'prod'");
      var pb = new ProcessBuilder(List.of("bash", BIN.resolve("kvraft-backup").toString(), "--dir",
          backups.toString(), "--keep", "1", "--address", "127.0.0.1:" + server.clientPort()))
          .directory(tmp.toFile()).redirectErrorStream(true);
      pb.environment().put("KVRAFT_NO_BUILD", "1");
      var p = pb.start();
      var out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertTrue(p.waitFor(90, TimeUnit.SECONDS), out);
      assertEquals(0, p.exitValue(), out);
      assertTrue(out.contains("backup at revision"), out);
      try (var files = Files.list(backups)) {
        var names = files.map(f -> f.getFileName().toString()).toList();
        assertEquals(1, names.size(), names.toString());
        assertTrue(names.get(0).matches("kvraft-\\d{8}T\\d{6}\\.\\d{3}Z\\.db"), names.toString());
      }
    }
  }
}
