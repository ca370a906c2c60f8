package dev.kvraft.server.metrics;

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
}
