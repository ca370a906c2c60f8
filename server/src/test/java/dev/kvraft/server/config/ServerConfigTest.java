package dev.kvraft.server.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ServerConfigTest {
  @Test
  void defaultsStartASingleNodeOnLocalhost() {
    var c = ServerConfig.fromArgs();
    assertEquals("n1", c.nodeId());
    assertEquals(List.of(PeerSpec.of("n1", "127.0.0.1", 7379, 7380)), c.cluster());
    assertEquals(Path.of("./data"), c.dataDir());
    assertEquals(Limits.DEFAULT, c.limits());
    assertEquals(50_000, c.snapshotThreshold());
  }

  @Test
  void fileThenOverrides(@TempDir Path dir) throws IOException {
    var file = dir.resolve("n2.properties");
    Files.writeString(file, """
        # a three node cluster
        node.id = n2
        cluster = n1=10.0.0.1:7379:7380, n2=10.0.0.2:7379:7380, n3=10.0.0.3:7379:7380
        data.dir = /var/lib/kvraft/n2
        limit.value.bytes = 2048
        jvm.options = -Xmx1g
        """);
    var c = ServerConfig.fromArgs("--config=" + file, "--limit.value.bytes=4096", "--data.dir", "/tmp/x");
    assertEquals("n2", c.nodeId());
    assertEquals(3, c.cluster().size());
    assertEquals("10.0.0.2:7379", c.self().clientAddress());
    assertEquals(4096, c.limits().maxValueBytes());
    assertEquals(Path.of("/tmp/x"), c.dataDir());
  }

  @ParameterizedTest(name = "{0} -> {1}")
  @CsvSource(delimiter = '|', value = {
      "--colour=blue | unknown setting [colour]",
      "--limit.key.bytes=lots | limit.key.bytes = 'lots' is not a whole number",
      "--limit.key.bytes=0 | limit.key.bytes must be positive",
      "--limit.answer.bytes=0 | limit.answer.bytes must be positive",
      "--limit.inflight.bytes=0 | limit.inflight.bytes must be positive",
      "--limit.inflight.total.bytes=lots | limit.inflight.total.bytes = 'lots' is not a whole number",
      "--limit.inflight.total.bytes=-1 | limit.inflight.total.bytes must be positive",
      "--node.id=n9 | node.id 'n9' is not in cluster",
      "--cluster=n1=127.0.0.1:7379 | must look like id=host:clientPort:peerPort",
      "--cluster=n1=127.0.0.1:7379:70000 | peer port 70000 is not in 1..65535",
      "--cluster=n1=127.0.0.1:1:2,n1=127.0.0.1:3:4 | names node 'n1' twice",
      "--cluster=n1=127.0.0.1:1:2,n2=127.0.0.1:2:3 | uses address 127.0.0.1:2 twice",
      "--raft.election.timeout.max.ms=10 | must be greater than raft.election.timeout.min.ms",
      "--raft.first.election.timeout.max.ms=150 | raft.first.election.timeout.max.ms (150) must be greater than"
          + " raft.first.election.timeout.min.ms (200); when one is not set it is a fifth of",
      "--raft.first.election.timeout.max.ms=0 | raft.first.election.timeout.max.ms must be positive",
      "--raft.election.timeout.max.ms=3600001 | raft.election.timeout.max.ms must be 1 to 3600000 (an hour)",
      "--raft.first.election.timeout.min.ms=3600001 | raft.first.election.timeout.min.ms must be 1 to 3600000",
      "--client.write.timeout.ms=9223372036854775807 | client.write.timeout.ms must be 1 to 31536000000 (a year)",
      "--client.idle.timeout.ms=-1 | client.idle.timeout.ms must be 0 to 31536000000",
      "--request.timeout.ms=0 | request.timeout.ms must be positive",
      "positional | unexpected argument 'positional'",
      "--node.id | has no value",
      "--cluster=n1=127.0.0.1:7379:7381 | metrics.address 127.0.0.1:7381 is also node n1's peer port",
      "--metrics.address=0.0.0.0:7379 | metrics.address 0.0.0.0:7379 is also node n1's client port",
      "--data.dir= | data.dir is empty",
      "--compaction.retention=-5 | compaction.retention must be 0 (no automatic compaction) or more, got -5",
      "--jvm.option=-Xmx1g | unknown setting [jvm.option]",
      "--jvm.options=-Xmx1g | --jvm.options has no effect on the command line",
      "--limit.partial.frames.bytes=1048576 | limit.partial.frames.bytes (1048576) must be at least limit.frame.bytes",
      "--limit.connections.per.address=0 | limit.connections.per.address must be positive",
  })
  void badSettingsNameWhatIsWrong(String arg, String message) {
    var e = assertThrows(IllegalArgumentException.class, () -> ServerConfig.fromArgs(arg));
    assertTrue(e.getMessage().contains(message), e.getMessage());
  }

  @Test
  void theFirstElectionWaitsAFifthOfTheElectionTimeoutUnlessSet() {
    var c = ServerConfig.fromArgs();
    assertEquals(java.time.Duration.ofMillis(200), c.firstElectionTimeoutMin());
    assertEquals(java.time.Duration.ofMillis(400), c.firstElectionTimeoutMax());
    c = ServerConfig.fromArgs("--raft.election.timeout.min.ms=5000", "--raft.election.timeout.max.ms=6000");
    assertEquals(java.time.Duration.ofMillis(1000), c.firstElectionTimeoutMin());
    assertEquals(java.time.Duration.ofMillis(1200), c.firstElectionTimeoutMax());
    c = ServerConfig.fromArgs("--raft.election.timeout.min.ms=1000", "--raft.election.timeout.max.ms=1003");
    assertEquals(java.time.Duration.ofMillis(200), c.firstElectionTimeoutMin());
    assertEquals(java.time.Duration.ofMillis(201), c.firstElectionTimeoutMax(), "derived bounds never collide");
    c = ServerConfig.fromArgs("--raft.first.election.timeout.min.ms=5000",
        "--raft.first.election.timeout.max.ms=6000");
    assertEquals(java.time.Duration.ofMillis(5000), c.firstElectionTimeoutMin());
    assertEquals(java.time.Duration.ofMillis(6000), c.firstElectionTimeoutMax());
  }

  @Test
  void missingConfigFileNamesTheFile() {
    var e = assertThrows(IllegalArgumentException.class, () -> ServerConfig.fromArgs("--config=/no/such/file"));
    assertTrue(e.getMessage().contains("/no/such/file"), e.getMessage());
  }

  @Test
  void anUnreadableConfigFileSaysWhy(@TempDir Path dir) throws IOException {
    var missing = assertThrows(IllegalArgumentException.class,
        () -> ServerConfig.fromArgs("--config=" + dir.resolve("n1.properties")));
    assertTrue(missing.getMessage().endsWith("n1.properties: no such file"), missing.getMessage());
    var latin1 = dir.resolve("latin1.properties");
    Files.write(latin1, "data.dir = /srv/kvraft/caf\u00e9\n".getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
    var notUtf8 = assertThrows(IllegalArgumentException.class, () -> ServerConfig.fromArgs("--config=" + latin1));
    assertTrue(notUtf8.getMessage().contains("latin1.properties: it is not UTF-8 text"), notUtf8.getMessage());
  }

  @Test
  void aConfigFileThatSetsAKeyTwiceIsRefused(@TempDir Path dir) throws IOException {
    var file = dir.resolve("n2.properties");
    Files.writeString(file, """
        node.id = n1
        cluster = n1=10.0.0.1:7379:7380, n2=10.0.0.2:7379:7380
        node.id = n2
        """);
    var e = assertThrows(IllegalArgumentException.class, () -> ServerConfig.fromArgs("--config=" + file));
    assertTrue(e.getMessage().contains("n2.properties sets node.id more than once"), e.getMessage());
  }

  @Test
  void aSecondConfigFileIsRefusedRatherThanReplacingTheFirst(@TempDir Path dir) throws IOException {
    var first = Files.writeString(dir.resolve("base.properties"), "node.id = n1\n");
    var second = Files.writeString(dir.resolve("site.properties"), "data.dir = /srv/kvraft\n");
    var e = assertThrows(IllegalArgumentException.class,
        () -> ServerConfig.fromArgs("--config=" + first, "--config", second.toString()));
    assertTrue(e.getMessage().contains("--config given twice") && e.getMessage().contains("site.properties"),
        e.getMessage());
  }

  @Test
  void everySettingHasAWorkingDefault() {
    for (var s : Settings.ALL) {
      var c = ServerConfig.fromMap(Map.of(s.key(), s.defaultValue()));
      assertEquals(ServerConfig.defaults(), c, s.key());
    }
  }

  @Test
  void requestBytesInFlightAreBoundedPerConnectionAndOverAll() {
    var defaults = ServerConfig.fromArgs().connections();
    assertEquals(64L << 20, defaults.inflightBytes());
    assertEquals(ConnectionLimits.autoBytes(), defaults.inflightTotalBytes());
    var set = ServerConfig.fromArgs("--limit.inflight.bytes=1000", "--limit.inflight.total.bytes=5000")
        .connections();
    assertEquals(1000, set.inflightBytes());
    assertEquals(5000, set.inflightTotalBytes());
  }

  @Test
  void ipv6HostsParse() {
    var p = PeerSpec.parse("n1=[::1]:7379:7380");
    assertEquals("::1", p.host());
    assertEquals("[::1]:7379", p.clientAddress());
  }
}
