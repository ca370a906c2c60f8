package dev.kvraft.server.metrics;

import dev.kvraft.server.db.WatchStats;
import java.util.List;

/**
 * Point-in-time node state read at scrape time, so nothing is pushed on the hot path. Every method
 * must be cheap and non-blocking (a volatile read or a size()); it runs on a kvraft-metrics thread.
 */
public interface NodeSource {
  /** One follower as seen by the leader. */
  record Follower(String peer, long matchIndex) { }

  long term();

  /** 0 follower, 1 candidate, 2 leader, -1 unknown. */
  int role();

  long commitIndex();

  long appliedIndex();

  /** Commands waiting for the database loop. */
  int queuedCommands();

  /** Commands proposed to Raft and not yet answered. */
  int inFlightCommands();

  /** Entries applied but not yet in the SQLite mirror. */
  long mirrorLag();

  long mirrorRows();

  long databaseFileBytes();

  /** Followers on the leader, empty elsewhere; a snapshot list, never a live view. */
  List<Follower> followers();

  /** The watch counts, for the four {@code kvraft_watch*} series. */
  default WatchStats watchStats() {
    return WatchStats.NONE;
  }

  /** Leaders this node saw elected since it started. */
  default long leaderChanges() {
    return 0;
  }

  /** Read barriers for which this node, leading, committed an empty entry (one at a time, for every read meanwhile). */
  default long readBarrierEntries() {
    return 0;
  }

  /** Applied log entries that did not decode and were applied as no-ops. */
  default long rejectedEntries() {
    return 0;
  }

  default int connectionsOpen() {
    return 0;
  }

  default long connectionsAccepted() {
    return 0;
  }

  /** Connections refused at limit.connections. */
  default long connectionsRefused() {
    return 0;
  }

  default long bytesIn() {
    return 0;
  }

  default long bytesOut() {
    return 0;
  }

  default long snapshotsWritten() {
    return 0;
  }

  default long snapshotsFailed() {
    return 0;
  }

  /** Size of the newest snapshot file this node wrote, 0 before the first. */
  default long lastSnapshotBytes() {
    return 0;
  }

  /** Seconds the newest snapshot took: the copy (applies paused) plus writing the file. */
  default double lastSnapshotSeconds() {
    return 0;
  }
}
