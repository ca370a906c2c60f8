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

  /**
   * Which archive the launcher maps for which JVM options (bin/lib/common.sh), with fresh archives already beside a
   * stand-in jar so that no training runs: on JDK 25 and later the AOT cache, except with options it does not serve,
   * which get the class archive; none with options that choose their own, from the config or the environment (the
   * JVM refuses some of them beside an AOT cache). The launcher is told the JDK is 25, whatever runs the test, so that
   * the AOT cache's choices are tested on a JDK 21 too.
   */
  @ParameterizedTest
  @ValueSource(strings = {"|aot", "-Xmx1g -XX:+UseG1GC|aot", "-XX:+UseZGC|jsa", "-XX:+UseParallelGC|jsa",
      "-javaagent:/opt/agent.jar|jsa", "-Xmx64g|jsa", "-Xmx32g|jsa", "-Xmx31g|aot", "-Xmx2g|aot", "-Xmx32768m|jsa",
      "-XX:MaxHeapSize=40g|jsa", "-XX:-UseSharedSpaces|none", "-Xmx0032g|jsa", "-Xmx08g|aot",
      "-XX:+UseMaximumCompactionOnSystemGC|aot",
      "-Xms512m -Xmx2g -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError|aot", "-XX:+UseLargePages -XX:MaxGCPauseMillis=50|aot",
      "-XX:+UseZGC -XX:+ZGenerational|jsa", "-Xshare:off|none", "-XX:SharedArchiveFile=/x.jsa|none", "env:-Xshare:off|none",
      "env:-XX:AOTMode=off|none"})
  void theArchiveSuitsTheJvmOptions(String spec, @TempDir Path tmp) throws Exception {
    var options = spec.substring(0, spec.indexOf('|'));
    var expected = spec.substring(spec.indexOf('|') + 1);
    var jar = Files.createFile(tmp.resolve("kvraft-server.jar"));
    var aot = tmp.resolve("kvraft-server.jdk25.aot");
    var jsa = tmp.resolve("kvraft-server.jdk25.jsa");
    Files.writeString(aot, "stand-in");
    Files.writeString(jsa, "stand-in");
    // As bin/kvraft-server runs it: under set -euo pipefail.
    var script = "set -euo pipefail; source \"$1\"; kvraft_find_java; JAVA_MAJOR=25;"
        + " kvraft_class_archive_flags \"$2\" \"$3\"";
    boolean fromEnv = options.startsWith("env:");
    var pb = new ProcessBuilder(List.of("bash", "-c", script, "flags", BIN.resolve("lib/common.sh").toString(),
        jar.toString(), fromEnv ? "" : options)).directory(tmp.toFile()).redirectErrorStream(true);
    pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
    for (var inherited : List.of("KVRAFT_CLASS_ARCHIVE", "KVRAFT_JAVA_OPTS", "JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS")) {
      pb.environment().remove(inherited);
    }
    if (fromEnv) {
      pb.environment().put("JAVA_TOOL_OPTIONS", options.substring("env:".length()));
    }
    var p = pb.start();
    var out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
    assertTrue(p.waitFor(60, TimeUnit.SECONDS), out);
    assertEquals(0, p.exitValue(), out);
    var want = switch (expected) {
      case "aot" -> "-XX:AOTCache=" + aot;
      case "jsa" -> "-XX:SharedArchiveFile=" + jsa;
      default -> "";
    };
    assertEquals(want, want.isEmpty() ? out : out.split(" ")[0], "options [" + options + "] gave: " + out);
  }

  /**
   * The launcher adds G1 unless the JVM options name a collector, in {@code KVRAFT_JAVA_OPTS} or in the JVM's own
   * {@code JAVA_TOOL_OPTIONS} (found by review: there, it still added G1 and the JVM refused the two collectors); an
   * option that merely contains "GC" names none.
   */
  @ParameterizedTest
  @ValueSource(strings = {"|UseG1GC", "-XX:+UseSerialGC|UseSerialGC", "env:-XX:+UseSerialGC|UseSerialGC",
      "-XX:+UseMaximumCompactionOnSystemGC|UseG1GC"})
  void theCollectorIsTheOneTheOptionsName(String spec, @TempDir Path tmp) throws Exception {
    var options = spec.substring(0, spec.indexOf('|'));
    var expected = spec.substring(spec.indexOf('|') + 1);
    boolean fromEnv = options.startsWith("env:");
    var pb = new ProcessBuilder(List.of("bash", BIN.resolve("kvraft-server").toString(), "--help"))
        .directory(tmp.toFile()).redirectErrorStream(true);
    pb.environment().put("KVRAFT_NO_BUILD", "1");
    pb.environment().put("KVRAFT_CLASS_ARCHIVE", "off");
    pb.environment().remove("JDK_JAVA_OPTIONS");
    pb.environment().put("KVRAFT_JAVA_OPTS", "-XX:+PrintCommandLineFlags" + (fromEnv ? "" : " " + options));
    if (fromEnv) {
      pb.environment().put("JAVA_TOOL_OPTIONS", options.substring("env:".length()));
    } else {
      pb.environment().remove("JAVA_TOOL_OPTIONS");
    }
    var p = pb.start();
    var out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(60, TimeUnit.SECONDS), out);
    assertEquals(0, p.exitValue(), out);
    var flags = out.lines().filter(l -> l.contains("-XX:+Use") && l.contains("GC")).findFirst().orElse("");
    var named = java.util.Arrays.stream(flags.split(" "))
        .filter(f -> f.matches("-XX:\\+Use(Serial|Parallel|G1|Z|Shenandoah|Epsilon)GC")).toList();
    assertEquals(List.of("-XX:+" + expected), named, out);
  }
}
