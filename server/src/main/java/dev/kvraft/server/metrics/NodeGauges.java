package dev.kvraft.server.metrics;

import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.function.ToDoubleFunction;

/** Registers the kvraft node gauges, each read from a {@link NodeSource} at scrape time. Stateless. */
public final class NodeGauges {
  private NodeGauges() { }

  public static void register(PrometheusRegistry registry, NodeSource source) {
    gauge(registry, source, "kvraft_raft_term", "Current Raft term", s -> s.term());
    gauge(registry, source, "kvraft_raft_role", "Raft role: 0 follower, 1 candidate, 2 leader, -1 unknown", s -> s.role());
    gauge(registry, source, "kvraft_raft_commit_index", "Raft commit index", s -> s.commitIndex());
    gauge(registry, source, "kvraft_raft_applied_index", "Last index applied to the state machine", s -> s.appliedIndex());
    gauge(registry, source, "kvraft_commands_queued", "Commands waiting for the database loop", s -> s.queuedCommands());
    gauge(registry, source, "kvraft_commands_in_flight", "Commands proposed and not yet answered", s -> s.inFlightCommands());
    gauge(registry, source, "kvraft_mirror_lag_entries", "Applied entries not yet in the SQLite mirror", s -> s.mirrorLag());
    gauge(registry, source, "kvraft_mirror_rows", "Rows in the SQLite mirror", s -> s.mirrorRows());
    gauge(registry, source, "kvraft_database_file_bytes", "Size of the SQLite database file", s -> s.databaseFileBytes());
    counter(registry, source, "kvraft_raft_leader_changes", "Leaders this node saw elected since it started",
        s -> s.leaderChanges());
    counter(registry, source, "kvraft_read_barrier_entries",
        "Empty entries this node committed, leading, to confirm its leadership for linearizable reads (one at a"
            + " time, for all the reads that came while the last was under way)", s -> s.readBarrierEntries());
    counter(registry, source, "kvraft_rejected_entries", "Log entries that did not decode, applied as no-ops",
        s -> s.rejectedEntries());
    gauge(registry, source, "kvraft_connections_open", "Client connections open now", s -> s.connectionsOpen());
    counter(registry, source, "kvraft_connections_accepted", "Client connections accepted",
        s -> s.connectionsAccepted());
    counter(registry, source, "kvraft_connections_refused", "Client connections refused at limit.connections or limit.connections.per.address",
        s -> s.connectionsRefused());
    counter(registry, source, "kvraft_client_received_bytes", "Bytes read from clients (frames)", s -> s.bytesIn());
    counter(registry, source, "kvraft_client_sent_bytes", "Bytes written to clients (frames)", s -> s.bytesOut());
    gauge(registry, source, "kvraft_watches_open", "Watches open on this node", s -> s.watchStats().open());
    gauge(registry, source, "kvraft_watches_catching_up",
        "Open watches not live yet: being opened, or catching up from history", s -> s.watchStats().catchingUp());
    counter(registry, source, "kvraft_watch_events_sent", "Events sent to watchers, live and from history",
        s -> s.watchStats().eventsSent());
    counter(registry, source, "kvraft_watches_ended_by_node",
        "Watches the node ended itself with a cancel: history compacted or unreadable, a snapshot installed, no leader",
        s -> s.watchStats().endedByNode());
    counter(registry, source, "kvraft_snapshots_written", "Snapshots this node wrote", s -> s.snapshotsWritten());
    counter(registry, source, "kvraft_snapshots_failed", "Snapshots that failed", s -> s.snapshotsFailed());
    gauge(registry, source, "kvraft_snapshot_last_bytes", "Size of the newest snapshot this node wrote",
        s -> s.lastSnapshotBytes());
    gauge(registry, source, "kvraft_snapshot_last_duration_seconds",
        "Time the newest snapshot took (copy with applies paused, plus writing)", s -> s.lastSnapshotSeconds());
    GaugeWithCallback.builder().name("kvraft_raft_follower_match_index")
        .help("Match index of each follower, on the leader").labelNames("peer")
        .callback(cb -> source.followers().forEach(f -> cb.call(f.matchIndex(), f.peer()))).register(registry);
    GaugeWithCallback.builder().name("kvraft_raft_follower_lag_entries")
        .help("Commit index minus each follower's match index, on the leader").labelNames("peer")
        .callback(cb -> {
          long commit = source.commitIndex();
          source.followers().forEach(f -> cb.call(Math.max(0, commit - f.matchIndex()), f.peer()));
        }).register(registry);
  }

  private static void counter(PrometheusRegistry registry, NodeSource source, String name, String help,
                              ToDoubleFunction<NodeSource> read) {
    CounterWithCallback.builder().name(name).help(help).callback(cb -> cb.call(read.applyAsDouble(source)))
        .register(registry);
  }

  private static void gauge(PrometheusRegistry registry, NodeSource source, String name, String help,
                            ToDoubleFunction<NodeSource> read) {
    GaugeWithCallback.builder().name(name).help(help).callback(cb -> cb.call(read.applyAsDouble(source))).register(registry);
  }
}
