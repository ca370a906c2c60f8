package dev.kvraft.server;

import dev.kvraft.server.config.ServerConfig;
import dev.kvraft.server.config.Settings;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
// sun.misc.Signal: the only way for a JVM to handle SIGTERM itself, and so to exit 0 after a graceful stop.
import sun.misc.Signal;

/**
 * {@code kvraft-server [--config=FILE] [--key=value ...]}: starts one node and runs until SIGTERM or SIGINT, then
 * stops gracefully and exits 0. A bad configuration exits 2 with a message naming the setting; a failure to start
 * exits 1.
 */
public final class Main {
  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(Main.class);
  private Main() {}

  public static void main(String[] args) {
    for (var a : args) {
      if (a.equals("--help") || a.equals("-h")) {
        usage();
        return;
      }
    }
    ServerConfig config;
    try {
      config = ServerConfig.fromArgs(args);
    } catch (IllegalArgumentException e) {
      System.err.println("kvraft-server: bad configuration: " + e.getMessage());
      System.err.println("kvraft-server: run with --help for the settings and their defaults");
      System.exit(2);
      return;
    }
    // A TLS 1.2 client may not make the server redo the handshake (client-initiated renegotiation): over and over it
    // would cost the server a handshake's CPU each time. Read by the JDK when its TLS classes load, so set first.
    System.setProperty("jdk.tls.rejectClientInitiatedRenegotiation", "true");
    // Before anything opens a database: SQLite's native library from data.dir/native, not a new copy in /tmp that a
    // killed process would leave behind (SqliteLibrary).
    dev.kvraft.storage.SqliteLibrary.useCopyIn(config.dataDir().resolve("native"));
    // Ratis registers every metric as a JMX MBean unless a reporter is registered before its first registry; kvraft
    // serves them on /metrics (metrics.RatisBridge reads the registries), so the MBeans would only cost start-up.
    org.apache.ratis.metrics.MetricRegistries.global().addReporterRegistration(registry -> { }, registry -> { });
    KvraftServer server;
    try {
      server = KvraftServer.start(config);
    } catch (Exception e) {
      System.err.println("kvraft-server: node " + config.nodeId() + " failed to start: " + e.getMessage());
      System.exit(1);
      return;
    }
    var systemd = SystemdNotifier.fromEnvironment();
    var stop = new CountDownLatch(1);
    Signal.handle(new Signal("TERM"), s -> stop.countDown());
    Signal.handle(new Signal("INT"), s -> stop.countDown());
    // Removed from the cluster by a membership change: stop the way SIGTERM does, exit 0 (not a failure).
    server.onRemoved(stop::countDown);
    // SIGHUP: re-read the TLS certificate, key and CA (a rotation needs no restart); off the signal thread.
    var previous = Signal.handle(new Signal("HUP"), s -> Thread.ofPlatform().name("kvraft-tls-reload").daemon(true)
        .start(server::reloadTls));
    if (previous == sun.misc.SignalHandler.SIG_IGN && server.config().tls().isPresent()) {
      // The JVM keeps a signal ignored at start ignored (nohup does that): a rotation would need a restart.
      LOG.warn("node {}: SIGHUP was ignored when the process started (nohup?), so it cannot reload the TLS files;"
          + " start it without nohup (setsid, systemd) to rotate certificates without a restart",
          server.config().nodeId());
    }
    // Ready: the client port accepts connections and Raft runs (it joined its group).
    systemd.ready(server.statusLine());
    try {
      while (!stop.await(5, TimeUnit.SECONDS)) {
        systemd.status(server.statusLine());
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    systemd.stopping();
    server.close();
    System.exit(0);
  }

  private static void usage() {
    var out = System.out;
    out.println("usage: kvraft-server [--config=FILE] [--key=value ...]");
    out.println();
    out.println("Starts one kvraft node. Settings come from FILE (Java properties), then from --key=value");
    out.println("arguments, which override the file. With no arguments: a single-node cluster on 127.0.0.1.");
    out.println();
    out.println("settings (default):");
    for (var s : Settings.ALL) {
      out.printf("  %-34s %s (%s)%n", s.key(), s.help(), s.defaultValue());
    }
  }
}
