package dev.kvraft.server;

import dev.kvraft.server.backup.BackupFiles;
import dev.kvraft.server.config.ServerConfig;
import dev.kvraft.server.db.ApplyObserver;
import dev.kvraft.server.db.DatabaseLoop;
import dev.kvraft.server.db.HandOver;
import dev.kvraft.server.db.MirrorObserver;
import dev.kvraft.server.metrics.MetricsServer;
import dev.kvraft.server.metrics.NodeMetrics;
import dev.kvraft.server.metrics.SlowRequestLog;
import dev.kvraft.storage.LogMirror;
import dev.kvraft.server.net.ClientListener;
import dev.kvraft.server.net.ClientTls;
import dev.kvraft.server.net.Members;
import dev.kvraft.server.net.LeaderLink;
import dev.kvraft.server.raft.RaftNode;
import java.io.IOException;
import java.nio.file.Files;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One kvraft node: wires the database loop, Ratis and the client listener together, starts them in order and
 * stops them in reverse.
 *
 * <p>Start-up: open the data directory, start the database loop, start Ratis (which replays the log into the loop),
 * then open the client port. Shutdown: stop accepting, let in-flight requests finish (or fail them at the deadline),
 * close Ratis, stop the loop, close the connections. Once it serves, the {@link Watchdog} checks on it every second
 * (the disk, Raft, the membership) until the stop.
 */
public final class KvraftServer implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(KvraftServer.class);

  /**
   * How much longer than its own timeout a second close waits for the first: Ratis's close and the loop's join each
   * wait up to 10 s.
   */
  static final Duration SECOND_CLOSE_WAIT = Duration.ofSeconds(25);

  private final ServerConfig config;
  private final DatabaseLoop loop;
  private final RaftNode raft;
  private final LeaderLink link;
  private final ClientListener listener;
  private final BackupFiles backups;
  /** Hands leadership over at a graceful stop, and for the watchdog when the leader still follows removed nodes. */
  private final HandOver handOver;
  /** TLS of the client port and the forwarding link, or null when the node runs plaintext. */
  private final ClientTls clientTls;
  private final NodeView view;
  private final NodeMetrics metrics;
  private final MetricsServer metricsServer;
  /** The stop: run by the first close; a later close waits for it to end. */
  private final StopOnce stop = new StopOnce();
  private final java.util.concurrent.atomic.AtomicLong tlsReloads = new java.util.concurrent.atomic.AtomicLong();
  /** Set when the leader told this node it was removed. */
  private volatile boolean toldRemoved;
  /** What happens once this node sees it was removed from the cluster; by default it closes itself. */
  private volatile Runnable onRemoved = this::close;

  private KvraftServer(ServerConfig config, DatabaseLoop loop, RaftNode raft, LeaderLink link,
      ClientListener listener, BackupFiles backups, ClientTls clientTls, NodeView view, NodeMetrics metrics,
      MetricsServer metricsServer) {
    this.config = config;
    this.backups = backups;
    this.clientTls = clientTls;
    this.loop = loop;
    this.raft = raft;
    this.link = link;
    this.listener = listener;
    this.view = view;
    this.metrics = metrics;
    this.metricsServer = metricsServer;
    this.handOver = new HandOver(config, raft);
  }

  /** Starts a node and returns once its client port accepts connections. */
  public static KvraftServer start(ServerConfig config) throws IOException {
    if (config.restore().isPresent()) {
      // Before anything creates files there: a restore makes a new node and never overwrites one. Then the marker,
      // until the backup is the node's loaded snapshot: a start that fails before that can be finished by the next.
      dev.kvraft.server.raft.SeedSnapshot.check(config.dataDir(), config.restore().get());
      dev.kvraft.server.raft.SeedSnapshot.begin(config.dataDir(), config.restore().get());
    } else {
      dev.kvraft.server.raft.SeedSnapshot.refuseUnfinished(config.dataDir());
    }
    Files.createDirectories(config.dataDir());
    // Unreadable, non-PEM or expired TLS files stop the node here, before kvraft.db is opened, with a message naming the file.
    var clientTls = config.tls().isPresent() ? ClientTls.load(config.tls().get()) : null;
    var bootId = HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt());
    var loop = new DatabaseLoop(config, config.nodeId() + "@" + bootId);
    ApplyObserver observer = ApplyObserver.NONE;
    MirrorObserver mirror = null;
    if (config.logMirror()) {
      // A kvraft.db that cannot be opened stops the node here, before it serves anything.
      mirror = new MirrorObserver(LogMirror.open(config.dataDir().resolve("kvraft.db")), config.logRetention(),
          config.logRetentionBytes(), config.logRetentionAge().isZero() ? null : config.logRetentionAge());
      observer = mirror;
      var db = config.dataDir().resolve("kvraft.db");
      var writer = mirror;
      loop.watchHistory(new dev.kvraft.server.db.WatchHistory() {
        @Override
        public dev.kvraft.storage.HistoryReader open() throws dev.kvraft.storage.StorageException {
          return dev.kvraft.storage.HistoryReader.open(db);
        }

        @Override
        public boolean recording() {
          return !writer.failed();
        }
      });
    }
    // Member ids follow membership changes: the Raft configuration's once Raft runs, the cluster setting's before.
    var raftRef = new java.util.concurrent.atomic.AtomicReference<RaftNode>();
    java.util.function.Supplier<java.util.Set<String>> memberIds = () -> {
      var r = raftRef.get();
      return r == null ? config.cluster().stream().map(p -> p.id()).collect(java.util.stream.Collectors.toSet())
          : r.memberIds();
    };
    var members = clientTls != null ? Members.byCertificate(memberIds) : Members.byToken(loop.memberToken());
    var backups = BackupFiles.open(config.dataDir().resolve(DataSizes.BACKUP_DIR), config.nodeId());
    loop.backups(backups);
    var dataSizes = new DataSizes(config.dataDir());
    loop.dataSizes(dataSizes::latest);
    // Bind the client port before Ratis starts: a port conflict fails before Raft's storage is touched (kvraft.db is
    // open by now; a restore's marker lets the next --restore go on).
    ClientListener listener;
    try {
      listener = new ClientListener(config, loop.commands(), clientTls, members, backups, loop::authView);
    } catch (IOException | RuntimeException e) {
      backups.close();
      observer.close();
      if (clientTls != null) {
        clientTls.close();
      }
      throw e;
    }
    RaftNode raft = null;
    LeaderLink link = null;
    NodeView view;
    NodeMetrics metrics;
    MetricsServer metricsServer = null;
    try {
      raft = new RaftNode(config, loop.stateMachine());
      raftRef.set(raft);
      var node = raft;
      view = new NodeView(config, raft, loop, listener, mirror);
      var slowLog = SlowRequestLog.of(config.slowRequest().toMillis(), LOG::warn);
      if (config.metricsAddress().isPresent()) {
        metrics = new NodeMetrics(config.nodeId(), () -> List.copyOf(memberIds.get()), view,
            slowLog);
        loop.observe(metrics, metrics);
      } else {
        // Metrics off: nothing is recorded, only slow requests are still logged.
        metrics = null;
        loop.observe(NodeMetrics.slowRequestsOnly(slowLog), dev.kvraft.server.db.LoopObserver.NONE);
      }
      link = new LeaderLink(loop.forwardSink(), clientTls, config.nodeId(), loop.memberToken());
      loop.bind(node, link, observer, node.snapshotter());
      if (config.metricsAddress().isPresent()) {
        // Before Raft starts, so that /ready says 503 while the log replays.
        metricsServer = MetricsServer.start(config.metricsAddress().get(), metrics.registry(), view);
      }
      loop.start();
      raft.start();
      if (config.restore().isPresent()) {
        // Ratis has loaded the backup as this node's first snapshot: from here on it is the node's own data.
        dev.kvraft.server.raft.SeedSnapshot.finished(config.dataDir());
      }
    } catch (IOException | RuntimeException e) {
      // Undo what was made, every step whatever the others did, then report the start's own failure.
      var steps = new StopSteps(config.nodeId());
      if (metricsServer != null) {
        steps.run("closing the metrics endpoint", metricsServer::close);
      }
      steps.run("closing the client port", listener::stopAccepting);
      if (clientTls != null) {
        steps.run("closing the TLS files' watcher", clientTls::close);
      }
      if (raft != null) {
        steps.run("closing Raft", raft::close);
      }
      if (link != null) {
        steps.run("closing the link to the leader", link::close);
      }
      steps.run("closing kvraft.db", observer::close);
      steps.run("closing the backup files", backups::close);
      steps.run("closing the database loop", loop::close);
      steps.finish();
      throw e;
    }
    listener.start();
    view.ready(true);
    var server = new KvraftServer(config, loop, raft, link, listener, backups, clientTls, view, metrics,
        metricsServer);
    new Watchdog(config, raft, loop, dataSizes, server.handOver, server.stop::started, () -> server.onRemoved.run())
        .start();
    loop.onRemoved(() -> {
      server.toldRemoved = true;
      LOG.warn("node {} was removed from the cluster; it stops serving. To bring it back, wipe its data directory"
          + " and add it again with 'member add' and --join", config.nodeId());
      server.onRemoved.run();
    });
    var self = config.self();
    if (raft.tlsOn()) {
      LOG.info("node {}: TLS on the Raft transport {} (mutual), the forwarding link (mutual) and the client port {}"
          + " (client certificates: {}); CA {}", config.nodeId(), self.peerAddress(), self.clientAddress(),
          config.tls().get().clientAuth().name().toLowerCase(java.util.Locale.ROOT), config.tls().get().caFile());
    } else {
      LOG.warn("node {}: the Raft port {} and the client port {} are plaintext: anyone who reaches them can read and"
          + " write; across hosts set tls.cert.file, tls.key.file and tls.ca.file", config.nodeId(),
          self.peerAddress(), self.clientAddress());
    }
    var stored = raft.members().stream().map(m -> m.id()).sorted().toList();
    var configured = config.cluster().stream().map(p -> p.id()).sorted().toList();
    if (config.join() && stored.isEmpty()) {
      LOG.info("node {} started with --join: it waits for the leader to add it ('member add {} {}:{}:{}')",
          config.nodeId(), config.nodeId(), self.host(), self.clientPort(), self.peerPort());
    } else if (!stored.isEmpty() && !stored.equals(configured)) {
      LOG.warn("node {}: its Raft log says the members are {}, the cluster setting says {}; the log wins (the"
          + " setting only bootstraps a new cluster). Update the setting to match to avoid confusion",
          config.nodeId(), stored, configured);
    }
    LOG.info("node {} serving clients on {}, raft on {}, metrics on {}, data in {}, cluster {}", config.nodeId(),
        self.clientAddress(), self.peerAddress(), metricsServer == null ? "(off)"
            : "http://" + config.metricsAddress().get().host() + ":" + metricsServer.port() + "/metrics",
        config.dataDir().toAbsolutePath(), config.cluster());
    return server;
  }

  public ServerConfig config() {
    return config;
  }

  /** Replaces what happens when this node was removed from the cluster (Main: close, then exit 0). */
  public void onRemoved(Runnable action) {
    this.onRemoved = action;
  }

  /** Whether this node was removed from the cluster by a membership change. */
  public boolean removed() {
    return toldRemoved || (raft.removed() && !raft.isAlive()) || raft.closedAsNonMember();
  }

  public int clientPort() {
    return listener.port();
  }

  /** The port serving /metrics, /health and /ready, or -1 when metrics.address is empty. */
  public int metricsPort() {
    return metricsServer == null ? -1 : metricsServer.port();
  }

  /** This node's metrics; empty when metrics.address is empty (then nothing is recorded). */
  public java.util.Optional<NodeMetrics> metrics() {
    return java.util.Optional.ofNullable(metrics);
  }

  /**
   * Re-reads the TLS files (SIGHUP). On success new connections use them; on failure (unreadable, not PEM, expired, a
   * key that is not the certificate's) the old ones stay in use and one ERROR line names the file. Without TLS settings
   * it says there is nothing to do. Each file is read once, and both ports' contexts are built from that one reading
   * before either is installed: read twice, a file replaced in between could leave the client port and the Raft port
   * on different certificates (or one updated and the other not).
   */
  public void reloadTls() {
    if (!raft.tlsOn()) {
      LOG.info("node {}: SIGHUP: no TLS settings, nothing to reload", config.nodeId());
      return;
    }
    try {
      var material = config.tls().get().pem().read();
      var client = clientTls.prepareReload(material);
      var peers = raft.prepareTlsReload(material);
      client.run();
      peers.run();
      tlsReloads.incrementAndGet();
      LOG.info("node {}: SIGHUP: reloaded the TLS certificate, key and CA ({}); new client and Raft connections"
          + " use them",
          config.nodeId(), config.tls().get().certFile());
    } catch (IOException | RuntimeException e) {
      LOG.error("node {}: SIGHUP: cannot reload TLS: {}; the previous certificate stays in use", config.nodeId(),
          e.getMessage());
    }
  }

  /** One line for systemd's STATUS and for people: role, leader, term, applied index, revision. */
  public String statusLine() {
    var info = raft.info();
    return "node " + config.nodeId() + " " + info.role().toLowerCase(java.util.Locale.ROOT) + ", leader "
        + (info.leaderId().isEmpty() ? "unknown" : info.leaderId()) + ", term " + info.term() + ", applied "
        + Math.max(0, loop.appliedIndex()) + ", revision " + loop.revision()
        + (raft.tlsOn() ? ", TLS" + (tlsReloads.get() > 0 ? " (reloaded " + tlsReloads.get() + "x)" : "") : "")
        + (loop.alarmsRaisedFor().isEmpty() ? "" : ", ALARM NOSPACE on " + String.join(",",
            new java.util.TreeSet<>(loop.alarmsRaisedFor())));
  }

  /**
   * Graceful stop within {@code timeout}: finish or fail what is in flight, close Ratis, close connections. A close
   * while another is under way (a removed node closing itself, say) returns once that one has ended: within its own
   * timeout plus the bounded waits for Ratis and the loop ({@link #SECOND_CLOSE_WAIT} at most).
   */
  public void close(Duration timeout) {
    if (!stop.run(() -> shutDown(timeout), timeout.plus(SECOND_CLOSE_WAIT)) && !stop.ended()) {
      LOG.warn("node {}: still stopping after {} ms (another close began first); not waiting longer",
          config.nodeId(), timeout.plus(SECOND_CLOSE_WAIT).toMillis());
    }
  }

  private void shutDown(Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    LOG.info("node {} stopping", config.nodeId());
    view.ready(false);
    // Every step runs whatever the ones before it did: a failing hand-over or Ratis close must not leave the client
    // port, the link to the leader or the loop's threads running.
    var steps = new StopSteps(config.nodeId());
    // A leader hands over first, so the others need not wait an election timeout to notice it is gone.
    steps.run("handing leadership over", () -> handOver.handOver(
        new HandOver.Reason.Stop(Math.min(TimeUnit.SECONDS.toMillis(2), timeout.toMillis() / 4))));
    steps.run("closing the client port", listener::stopAccepting);
    // In-flight writes get up to half the budget to commit.
    steps.run("waiting for in-flight writes",
        () -> loop.awaitIdle(System.nanoTime() + (deadline - System.nanoTime()) / 2));
    steps.run("stopping the loop's intake of commands", loop::stopAccepting);
    steps.run("closing Raft", raft::close);
    steps.run("closing the database loop", loop::close);
    steps.run("closing the link to the leader", link::close);
    steps.run("closing the client connections",
        () -> listener.close(Math.min(deadline, System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(500))));
    if (metricsServer != null) {
      steps.run("closing the metrics endpoint", metricsServer::close);
    }
    if (clientTls != null) {
      steps.run("closing the TLS files' watcher", clientTls::close);
    }
    steps.run("closing the backup files", backups::close);
    steps.finish();
    LOG.info("node {} stopped", config.nodeId());
  }

  @Override
  public void close() {
    close(Duration.ofSeconds(4));
  }
}
