package dev.kvraft.server.process;

import dev.kvraft.proto.Request;
import dev.kvraft.proto.Status;
import dev.kvraft.server.testing.RawClient;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A kvraft server in its own OS process, started from this JVM's class path with {@code dev.kvraft.server.Main}.
 * Output goes to a log file beside the data. {@link #close()} kills it for sure.
 */
public final class ServerProcess implements AutoCloseable {
  private final List<String> args;
  private final Path log;
  private final int clientPort;
  private final java.util.Map<String, String> env;
  private Process process;

  public ServerProcess(List<String> args, Path log, int clientPort) {
    this(args, log, clientPort, java.util.Map.of());
  }

  public ServerProcess(List<String> args, Path log, int clientPort, java.util.Map<String, String> env) {
    this.args = List.copyOf(args);
    this.log = log;
    this.clientPort = clientPort;
    this.env = java.util.Map.copyOf(env);
  }

  /** Whether this system's env can reset a signal's disposition (coreutils 8.31 and later). */
  private static final boolean DEFAULT_SIGHUP = envResetsSignals();

  private static boolean envResetsSignals() {
    try {
      var p = new ProcessBuilder("env", "--default-signal=HUP", "true").redirectErrorStream(true)
          .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
      return p.waitFor(10, java.util.concurrent.TimeUnit.SECONDS) && p.exitValue() == 0;
    } catch (IOException e) {
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  public ServerProcess start() throws IOException {
    var java = ProcessHandle.current().info().command().orElse("java");
    var cmd = new ArrayList<String>(List.of(java, "--enable-native-access=ALL-UNNAMED", "-Xmx512m", "-XX:+UseSerialGC",
        "-cp", System.getProperty("java.class.path"), "dev.kvraft.server.Main"));
    if (Runtime.version().feature() >= 23) {
      cmd.add(1, "--sun-misc-unsafe-memory-access=allow");
    }
    cmd.addAll(args);
    if (DEFAULT_SIGHUP) {
      // A node under systemd starts with SIGHUP at its default; one started under nohup (a CI script, a shell's
      // background job) inherits it ignored and could not reload its TLS files. env execs, so the pid stays the node's.
      cmd.addAll(0, List.of("env", "--default-signal=HUP"));
    }
    Files.createDirectories(log.getParent());
    var pb = new ProcessBuilder(cmd).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
    pb.environment().putAll(env);
    process = pb.start();
    return this;
  }

  public Process process() {
    return process;
  }

  public long pid() {
    return process.pid();
  }

  public int clientPort() {
    return clientPort;
  }

  public boolean isAlive() {
    return process != null && process.isAlive();
  }

  /** Waits until the node answers Status over its client port. */
  public void awaitServing(Duration timeout) throws IOException, InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    IOException last = null;
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        throw new IOException("server exited with " + process.exitValue() + "; log:\n" + Files.readString(log));
      }
      try (var c = new RawClient(clientPort)) {
        c.call(Request.newBuilder().setId(1).setStatus(Status.getDefaultInstance()).build());
        return;
      } catch (IOException e) {
        last = e;
        Thread.sleep(50);
      }
    }
    throw new IOException("server did not serve within " + timeout + "; log:\n" + Files.readString(log), last);
  }

  /** SIGTERM, then waits; returns the exit code or -1 if it did not exit in time. */
  public int terminate(Duration timeout) throws InterruptedException {
    process.destroy();
    return process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS) ? process.exitValue() : -1;
  }

  public String log() throws IOException {
    return Files.readString(log);
  }

  @Override
  public void close() throws InterruptedException {
    if (process != null && process.isAlive()) {
      process.destroyForcibly();
      process.waitFor(10, TimeUnit.SECONDS);
    }
  }
}
