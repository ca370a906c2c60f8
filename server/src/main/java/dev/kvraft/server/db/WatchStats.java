package dev.kvraft.server.db;

/**
 * The watch counts as one scrape of the metrics reads them ({@link WatchCounts#stats}), for the
 * {@code kvraft_watches_*} and {@code kvraft_watch_events_sent} series.
 *
 * <p>Immutable. Its four values are read one after another, each current when it was read: not one instant of the
 * loop (a watch may open between the first read and the last).
 *
 * @param open watches open on this node
 * @param catchingUp open watches not live: being opened, or catching up from history
 * @param eventsSent events sent to watchers since the node started, live and from history
 * @param endedByNode watches this node ended itself with a cancel since it started: history compacted, pruned,
 *     unreadable or not kept, a snapshot installed, no leader. Not a watch that ended with its connection, even one
 *     the node closed
 */
public record WatchStats(long open, long catchingUp, long eventsSent, long endedByNode) {
  /** No watches: what a node without a database loop reports. */
  public static final WatchStats NONE = new WatchStats(0, 0, 0, 0);
}
