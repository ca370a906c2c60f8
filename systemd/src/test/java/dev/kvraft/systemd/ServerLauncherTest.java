package dev.kvraft.systemd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** bin/kvraft-server reads jvm.options from the config file as the server reads the file. Uses the jars as they are. */
@Timeout(120)
@Tag("slow") // runs the launcher
class ServerLauncherTest {
  static final Path BIN = Path.of("").toAbsolutePath().getParent().resolve("bin");

  /**
   * Every way a properties file may write the line, the server accepts it; the launcher must then pass the flags on
   * (-showversion prints the JVM's version before --help's usage), not ignore them or pass a stray carriage return.
   */
  @ParameterizedTest
  @ValueSource(strings = {"jvm.options = -showversion\n", "jvm.options -showversion\n", "jvm.options:-showversion\n",
      "node.id = n1\r\njvm.options = -showversion\r\n"})
  void jvmOptionsAreReadAsTheServerReadsTheFile(String text, @TempDir Path tmp) throws Exception {
    var config = tmp.resolve("n1.properties");
    Files.writeString(config, text);
    var pb = new ProcessBuilder(List.of("bash", BIN.resolve("kvraft-server").toString(), "--config=" + config, "--help"))
        .directory(tmp.toFile()).redirectErrorStream(true);
    pb.environment().put("KVRAFT_NO_BUILD", "1");
    pb.environment().put("KVRAFT_CLASS_ARCHIVE", "off");
    var p = pb.start();
    var out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(60, TimeUnit.SECONDS), out);
    assertEquals(0, p.exitValue(), out);
    assertTrue(out.contains("Runtime Environment") && out.contains("usage: kvraft-server"), out);
  }
}
