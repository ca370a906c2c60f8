package dev.kvraft.server.process;

import dev.kvraft.proto.Request;
import dev.kvraft.proto.Status;
import dev.kvraft.proto.StatusResult;
import dev.kvraft.server.config.ServerConfig;
import dev.kvraft.server.testing.RawClient;
import dev.kvraft.server.testing.TestNodes;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * A kvraft cluster of real OS processes on free loopback ports, for tests that kill, pause and restart nodes.
 * {@link #close()} kills every process it started, even after a failure.
 */
public final class ProcessCluster implements AutoCloseable {
  private final Path dir;
  private final List<ServerConfig> configs;
  private final Map<String, ServerProcess> processes = new LinkedHashMap<>();

  public ProcessCluster(Path dir, int size, Map<String, String> settings) {
    this.dir = dir;
    this.configs = TestNodes.cluster(dir, size, settings);
  }

  public ProcessCluster startAll() throws IOException, InterruptedException {
    for (var c : configs) {
      start(c.nodeId());
    }
    for (var id : ids()) {
      processes.get(id).awaitServing(Duration.ofSeconds(60));
    }
    return this;
  }

  public List<String> ids() {
    return configs.stream().map(ServerConfig::nodeId).toList();
  }

  public ServerConfig config(String id) {
    return configs.stream().filter(c -> c.nodeId().equals(id)).findFirst().orElseThrow();
  }

  public String address(String id) {
    return config(id).self().clientAddress();
  }

  public List<String> addresses() {
    return configs.stream().map(c -> c.self().clientAddress()).toList();
  }

  public void start(String id) throws IOException {
    var c = config(id);
    var p = new ServerProcess(TestNodes.args(c), dir.resolve(id + ".log"), c.self().clientPort()).start();
    processes.put(id, p);
  }

  public void restart(String id) throws IOException, InterruptedException {
    var p = processes.get(id);
    if (p != null) {
      p.close();
    }
    start(id);
    processes.get(id).awaitServing(Duration.ofSeconds(60));
  }

  /** SIGKILL. */
  public void kill(String id) throws InterruptedException {
    var p = processes.get(id);
    p.process().destroyForcibly();
    p.process().waitFor(10, TimeUnit.SECONDS);
  }

  public void pause(String id) throws IOException, InterruptedException {
    signal(id, "STOP");
  }

  public void resume(String id) throws IOException, InterruptedException {
    signal(id, "CONT");
  }

  private void signal(String id, String sig) throws IOException, InterruptedException {
    var p = new ProcessBuilder("kill", "-" + sig, Long.toString(processes.get(id).pid())).inheritIO().start();
    if (p.waitFor() != 0) {
      throw new IOException("kill -" + sig + " " + id + " failed");
    }
  }

  public boolean isAlive(String id) {
    var p = processes.get(id);
    return p != null && p.isAlive();
  }

  /** The node's Status, or empty when it does not answer. */
  public Optional<StatusResult> status(String id) {
    try (var c = new RawClient(config(id).self().clientPort())) {
      return Optional.of(c.call(Request.newBuilder().setId(1).setStatus(Status.getDefaultInstance()).build())
          .getStatus());
    } catch (IOException e) {
      return Optional.empty();
    }
  }

  /** Waits until some live node reports itself leader and the others agree; returns its id. */
  public String awaitLeader(Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline) {
      for (var id : ids()) {
        if (!isAlive(id)) {
          continue;
        }
        var s = status(id);
        if (s.isPresent() && s.get().getRole().equals("LEADER")) {
          return id;
        }
      }
      Thread.sleep(50);
    }
    throw new AssertionError("no leader within " + timeout);
  }

  public String log(String id) throws IOException {
    return processes.get(id).log();
  }

  @Override
  public void close() {
    var errors = new ArrayList<Exception>();
    for (var p : processes.values()) {
      try {
        if (p.isAlive()) {
          new ProcessBuilder("kill", "-CONT", Long.toString(p.pid())).start().waitFor();
        }
        p.close();
      } catch (Exception e) {
        errors.add(e);
      }
    }
    if (!errors.isEmpty()) {
      throw new IllegalStateException("could not stop every node: " + errors);
    }
  }
}
