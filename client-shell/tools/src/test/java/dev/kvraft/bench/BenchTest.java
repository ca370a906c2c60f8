package dev.kvraft.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvraft.proto.Consistency;
import dev.kvraft.server.testing.RunningServers;
import dev.kvraft.server.testing.TestNodes;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

@Timeout(120)
@Tag("slow") // processes, clusters or external tools: not in bin/test --fast
class BenchTest {
  @TempDir
  static Path dir;
  static final RunningServers servers = new RunningServers();
  static String endpoints;

  @BeforeAll
  static void start() throws Exception {
    for (var c : TestNodes.cluster(dir, 3, Map.of())) {
      servers.start(c);
    }
    endpoints = String.join(",", servers.list().stream().map(s -> s.config().self().clientAddress()).toList());
  }

  @AfterAll
  static void stop() {
    servers.close();
  }

  @Test
  void parsesEveryFlag() {
    var o = BenchOptions.parse("--endpoints=a:1,b:2", "--conns", "3", "--clients=30", "--duration=2.5", "--warmup=1.5",
        "--key-size=12", "--val-size=0", "--key-space-size=500", "--sequential-keys", "--rate=100",
        "--read-ratio=0.9", "--consistency=s", "--target-leader", "--writes-via-node", "--reads-via-node", "--json",
        "--no-progress", "--preload",
        "--scan-limit=5", "--timeline", "mixed");
    assertEquals(List.of("a:1", "b:2"), o.endpoints());
    assertEquals(3, o.conns());
    assertEquals(30, o.clients());
    assertEquals(Duration.ofMillis(2500), o.duration());
    assertEquals(Duration.ofMillis(1500), o.warmup());
    assertEquals(12, o.keySize());
    assertEquals(0, o.valSize());
    assertEquals(500, o.keySpaceSize());
    assertTrue(o.sequentialKeys() && o.targetLeader() && o.json() && !o.progress() && o.preload() && o.timeline());
    assertTrue(o.writesViaNode() && o.readsViaNode());
    assertEquals(100.0, o.rate());
    assertEquals(0.9, o.readRatio());
    assertEquals(Consistency.STALE, o.consistency());
    assertEquals(5, o.scanLimit());
    assertEquals("mixed", o.op());
    var d = BenchOptions.parse("put");
    assertEquals(10_000, d.total());
    assertEquals(Duration.ZERO, d.warmup());
    assertEquals(List.of("127.0.0.1:7379"), d.endpoints());
    assertFalse(d.timeline());
    assertFalse(d.writesViaNode() || d.readsViaNode(), "writes and linearizable reads go to the leader by default");
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "--clients=0 put", "--bogus put", "fly", "--read-ratio=2 mixed", "--consistency=x get",
      "put get", "--key-size=2 --key-space-size=1000 put", "--total=-3 put", "--warmup=-1 put", "--warmup put"})
  void rejectsBadFlags(String line) {
    var args = line.isEmpty() ? new String[0] : line.split(" ");
    assertThrows(IllegalArgumentException.class, () -> BenchOptions.parse(args));
  }

  @ParameterizedTest
  @ValueSource(strings = {"--help", "-h", "put --help"})
  void helpPrintsTheUsageAndExitsZero(String line) {
    var out = new ByteArrayOutputStream();
    var err = new ByteArrayOutputStream();
    int code = Bench.run(line.split(" "), new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
    assertEquals(0, code);
    assertTrue(out.toString(StandardCharsets.UTF_8).startsWith("usage: kvraft-bench"), out.toString());
    assertEquals("", err.toString(StandardCharsets.UTF_8));
  }

  @Test
  void badFlagsSayWhatIsWrongAndExitTwo() {
    var err = new ByteArrayOutputStream();
    int code = Bench.run(new String[] {"--clients=0", "put"}, new PrintStream(new ByteArrayOutputStream()),
        new PrintStream(err, true, StandardCharsets.UTF_8));
    assertEquals(2, code);
    assertTrue(err.toString(StandardCharsets.UTF_8).startsWith("kvraft-bench: "), err.toString());
  }

  private static String run(String... args) {
    var out = new ByteArrayOutputStream();
    var err = new ByteArrayOutputStream();
    var result = new Bench(BenchOptions.parse(args), new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8)).run();
    assertTrue(result.ok() > 0, "nothing was acknowledged");
    assertEquals(Map.of(), result.errors(), "errors in a run against a healthy cluster");
    return out.toString(StandardCharsets.UTF_8);
  }

  @Test
  void aShortRunPrintsEveryField() {
    var text = run("--endpoints=" + endpoints, "--conns=3", "--clients=20", "--total=2000", "--no-progress", "put");
    for (var field : List.of("Total:", "Done:         2000 acknowledged", "Throughput:", "min", "p50", "p90",
        "p99", "p99.9", "max", "Errors:       none")) {
      assertTrue(text.contains(field), "missing '" + field + "' in:\n" + text);
    }
  }

  @Test
  void everyOperationRunsAndJsonHasEveryField() {
    for (var op : List.of("get", "scan", "txn", "mixed", "connect")) {
      var json = run("--endpoints=" + endpoints, "--target-leader", "--conns=2", "--clients=10", "--total=500",
          "--key-space-size=100", "--preload", "--consistency=" + (op.equals("get") ? "s" : "l"), "--json",
          "--no-progress", op);
      for (var field : List.of("\"op\":\"" + op + "\"", "\"ok\":500", "\"errors\":{}", "\"ops_per_second\":",
          "\"p50\":", "\"p99.9\":", "\"max\":")) {
        assertTrue(json.contains(field), op + ": missing " + field + " in " + json);
      }
    }
  }

  @Test
  void connectOpensOneConnectionPerOperation() throws Exception {
    var json = run("--endpoints=" + endpoints, "--clients=2", "--total=40", "--json", "--no-progress", "connect");
    assertTrue(json.contains("\"ok\":40"), json);
    assertTrue(json.contains("\"connect_ms\":{\"connections\":1,"), "one pooled connection was opened up front: " + json);
  }

  @Test
  void warmUpOperationsRunButAreNotCounted() {
    try (var client = dev.kvraft.client.KvClient.connect(endpoints.split(","))) {
      long before = client.put("bench-marker", "before");
      var json = run("--endpoints=" + endpoints, "--target-leader", "--clients=4", "--warmup=0.5", "--rate=400",
          "--total=100", "--json", "--no-progress", "put");
      long after = client.put("bench-marker", "after");
      assertTrue(json.contains("\"ok\":100"), "only the measured operations count: " + json);
      long writes = after - before - 1;
      assertTrue(writes > 100, "the warm-up wrote nothing: " + writes + " puts between the markers");
    }
  }

  @Test
  void theTimelineCountsEveryOperationOnceUnderTheSecondItWasSent() {
    var text = run("--endpoints=" + endpoints, "--clients=4", "--duration=2.5", "--rate=200", "--no-progress",
        "--timeline", "put");
    var lines = text.lines().filter(l -> l.matches("\\s+\\d+ s\\s+\\d+ ok .*")).toList();
    assertEquals(List.of(0, 1, 2), lines.stream().map(l -> Integer.parseInt(l.trim().split(" ")[0])).toList(),
        "one line per second of a 2.5 s run:\n" + text);
    long perSecond = lines.stream().mapToLong(l -> Long.parseLong(l.trim().split("\\s+")[2])).sum();
    var done = text.lines().filter(l -> l.contains("Done:")).findFirst().orElseThrow();
    assertEquals(Long.parseLong(done.replaceAll("\\D+", "")), perSecond, "the seconds add up to the total:\n" + text);
    var json = run("--endpoints=" + endpoints, "--clients=4", "--duration=1.5", "--rate=200", "--no-progress",
        "--timeline", "--json", "put");
    assertTrue(json.contains("\"timeline\":[{\"second\":0,\"ok\":"), json);
    assertTrue(json.contains("{\"second\":1,"), json);
  }

  @Test
  void aDurationRunStopsOnTime() {
    long start = System.nanoTime();
    run("--endpoints=" + endpoints, "--clients=4", "--duration=1", "--rate=200", "--no-progress", "put");
    var took = Duration.ofNanos(System.nanoTime() - start);
    assertTrue(took.compareTo(Duration.ofSeconds(15)) < 0, "a 1 s run took " + took);
  }

  @Test
  void theRateCapsTheOperationsPerSecond() {
    long start = System.nanoTime();
    var json = run("--endpoints=" + endpoints, "--clients=20", "--total=300", "--rate=300", "--json", "--no-progress",
        "put");
    var took = Duration.ofNanos(System.nanoTime() - start);
    assertTrue(json.contains("\"ok\":300"), json);
    // Operation n may not start before n / rate: the 300th at 0.997 s.
    assertTrue(took.toMillis() >= 990, "300 operations at 300/s took only " + took.toMillis() + " ms");
  }

  @Test
  void requestsThatGetNoAnswerAreCountedAsTimeouts() throws Exception {
    // A node that accepts connections and reads every request but never answers.
    try (var silent = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
      var sockets = new ArrayList<Socket>();
      var acceptor = Thread.ofVirtual().start(() -> {
        try {
          while (true) {
            var s = silent.accept();
            sockets.add(s);
            Thread.ofVirtual().start(() -> {
              try (var in = s.getInputStream()) {
                in.transferTo(OutputStream.nullOutputStream());
              } catch (IOException e) {
                // closed at the end of the test
              }
            });
          }
        } catch (IOException e) {
          // closed at the end of the test
        }
      });
      try {
        var out = new ByteArrayOutputStream();
        var options = BenchOptions.parse("--endpoints=127.0.0.1:" + silent.getLocalPort(), "--clients=3",
            "--total=3", "--no-progress", "put");
        var result = new Bench(options, new PrintStream(out, true, StandardCharsets.UTF_8),
            new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8), Duration.ofMillis(300)).run();
        assertEquals(0, result.ok());
        assertEquals(Map.of("TIMEOUT", 3L), result.errors());
        assertTrue(out.toString(StandardCharsets.UTF_8).contains("Errors:       {TIMEOUT=3}"), out.toString());
      } finally {
        silent.close();
        acceptor.join();
        for (var s : sockets) {
          s.close();
        }
      }
    }
  }
}
