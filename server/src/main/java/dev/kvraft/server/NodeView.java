package dev.kvraft.server;

import dev.kvraft.server.config.ServerConfig;
import dev.kvraft.server.db.DatabaseLoop;
import dev.kvraft.server.db.MirrorObserver;
import dev.kvraft.server.db.WatchStats;
import dev.kvraft.server.metrics.HealthSource;
import dev.kvraft.server.metrics.NodeSource;
import dev.kvraft.server.net.ClientListener;
import dev.kvraft.server.raft.RaftNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * One node's state as metrics and the health probes see it, read at scrape time from the parts that own it (every
 * read is a volatile read, a size or a cheap Ratis getter; none waits for the database loop).
 *
 * <p>Thread-safety: {@code ready} is volatile; the apply-progress tracking for {@link #unhealthyReason()} is guarded
 * by this object's monitor (probes may come from two metrics threads at once).
 */
final class NodeView implements NodeSource, HealthSource {
  /** A node whose applied index stays behind its commit index this long is not applying: unhealthy. */
  static final long APPLY_STALL_NANOS = TimeUnit.SECONDS.toNanos(10);

  private final ServerConfig config;
  private final RaftNode raft;
  private final DatabaseLoop loop;
  private final ClientListener listener;
  private final MirrorObserver mirror;
  private final Path databaseFile;
  private volatile boolean ready;
  private long lastApplied = -1;
  private long lastProgressNanos = System.nanoTime();

  /** @param mirror the log mirror, or null when log.mirror is off */
  NodeView(ServerConfig config, RaftNode raft, DatabaseLoop loop, ClientListener listener, MirrorObserver mirror) {
    this.config = config;
    this.raft = raft;
    this.loop = loop;
    this.listener = listener;
    this.mirror = mirror;
    this.databaseFile = config.dataDir().resolve("kvraft.db");
  }

  void ready(boolean serving) {
    ready = serving;
  }

  @Override
  public boolean ready() {
    return ready;
  }

  @Override
  public synchronized String unhealthyReason() {
    if (!ready) {
      return "node " + config.nodeId() + " is not serving clients (starting or stopping)";
    }
    if (!raft.isAlive()) {
      return "Raft on node " + config.nodeId() + " stopped (see the log); the node is exiting";
    }
    var info = raft.info();
    if (info.leaderId().isEmpty()) {
      return "node " + config.nodeId() + " knows no leader (role " + info.role().toLowerCase(java.util.Locale.ROOT)
          + ", term " + info.term() + "): is a quorum of nodes up and reachable?";
    }
    long applied = loop.appliedIndex();
    long now = System.nanoTime();
    if (applied != lastApplied || applied >= info.commitIndex()) {
      lastApplied = applied;
      lastProgressNanos = now;
    } else if (now - lastProgressNanos > APPLY_STALL_NANOS) {
      return "node " + config.nodeId() + " has applied nothing for " + TimeUnit.NANOSECONDS.toSeconds(now
          - lastProgressNanos) + " s while " + (info.commitIndex() - applied) + " committed entries wait";
    }
    if (mirror != null && mirror.failed()) {
      return "alarm: node " + config.nodeId() + " stopped writing kvraft.db after an error (see the log); the store"
          + " serves on, restart the node once the disk is fixed";
    }
    return null;
  }

  @Override
  public long term() {
    return raft.term();
  }

  @Override
  public int role() {
    return switch (raft.info().role()) {
      case "FOLLOWER" -> 0;
      case "CANDIDATE" -> 1;
      case "LEADER" -> 2;
      default -> -1;
    };
  }

  @Override
  public long commitIndex() {
    return raft.info().commitIndex();
  }

  @Override
  public long appliedIndex() {
    return Math.max(0, loop.appliedIndex());
  }

  @Override
  public int queuedCommands() {
    return loop.queuedCommands();
  }

  @Override
  public int inFlightCommands() {
    return loop.inFlightCommands();
  }

  @Override
  public WatchStats watchStats() {
    return loop.watchStats();
  }

  @Override
  public long mirrorLag() {
    return mirror == null ? 0 : Math.max(0, loop.appliedIndex() - mirror.committedIndex());
  }

  @Override
  public long mirrorRows() {
    return mirror == null ? 0 : mirror.entries();
  }

  @Override
  public long databaseFileBytes() {
    long total = 0;
    for (var suffix : List.of("", "-wal")) {
      try {
        total += Files.size(Path.of(databaseFile + suffix));
      } catch (IOException e) {
        // absent (log.mirror=false, or no WAL right now): counts as 0
      }
    }
    return total;
  }

  @Override
  public List<Follower> followers() {
    return raft.followers().stream().map(f -> new Follower(f.id(), f.matchIndex())).toList();
  }

  @Override
  public long leaderChanges() {
    return raft.leaderChanges();
  }

  @Override
  public long readBarrierEntries() {
    return raft.emptyBarriers();
  }

  @Override
  public long rejectedEntries() {
    return loop.rejectedEntries();
  }

  @Override
  public int connectionsOpen() {
    return listener.openConnections();
  }

  @Override
  public long connectionsAccepted() {
    return listener.acceptedConnections();
  }

  @Override
  public long connectionsRefused() {
    return listener.refused();
  }

  @Override
  public long bytesIn() {
    return listener.stats().bytesIn();
  }

  @Override
  public long bytesOut() {
    return listener.stats().bytesOut();
  }

  @Override
  public long snapshotsWritten() {
    return raft.snapshotStats().written();
  }

  @Override
  public long snapshotsFailed() {
    return raft.snapshotStats().failed();
  }

  @Override
  public long lastSnapshotBytes() {
    var last = raft.snapshotStats().last();
    return last == null ? 0 : last.bytes();
  }

  @Override
  public double lastSnapshotSeconds() {
    var last = raft.snapshotStats().last();
    return last == null ? 0 : (last.copyNanos() + last.writeNanos()) / 1e9;
  }
}
