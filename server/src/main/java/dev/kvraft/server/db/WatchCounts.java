package dev.kvraft.server.db;

import java.util.concurrent.atomic.LongAdder;

/**
 * The counts of {@link Watches} that the metrics read: watches open, those of them not live, events sent, and the
 * watches the node ended itself.
 *
 * <p>Who writes and reads what:
 * <ul>
 *   <li>{@code open} and {@code catchingUp} are the database loop thread's ({@link Watches} changes them as a watch
 *       opens, ends, falls behind and is live again); it alone reads them as they are. After each change they are
 *       published to {@code openView} and {@code catchingUpView}, volatile, which the metrics thread reads
 *       ({@link #stats}).
 *   <li>{@code endedByNode} is written by the loop thread only ({@link #nodeEnded}); volatile, for the metrics
 *       thread.
 *   <li>{@code eventsSent} is an adder: the loop thread adds the live events it sends, each {@link WatchCatchUp}
 *       thread those it sends from history ({@link #sent}); the metrics thread sums it.
 * </ul>
 */
final class WatchCounts {
  /** Open watches; the loop thread's. */
  private int open;
  /** Open watches not live: opening, or catching up from history on a {@link WatchCatchUp}; the loop thread's. */
  private int catchingUp;
  /** {@code open} and {@code catchingUp} as the metrics thread reads them (written by the loop only). */
  private volatile int openView;
  private volatile int catchingUpView;
  /** Events sent to clients: live ones by the loop, past ones by catch-up threads. */
  private final LongAdder eventsSent = new LongAdder();
  /** Watches this node ended itself ({@link Watches#end}); written by the loop only. */
  private volatile long endedByNode;

  /** Watches open now (the loop's thread). */
  int open() {
    return open;
  }

  /** A watch opened; it is not live until {@link Watches#join} says so. */
  void opened() {
    open++;
    catchingUp++;
    publish();
  }

  /** A watch ended; {@code live}: it was live (else it was still counted as catching up). */
  void ended(boolean live) {
    open--;
    if (!live) {
      catchingUp--;
    }
    publish();
  }

  /** An open watch became live ({@code true}) or fell behind ({@code false}). */
  void live(boolean live) {
    catchingUp += live ? -1 : 1;
    publish();
  }

  /** The node ended a watch itself (the loop's thread). */
  void nodeEnded() {
    endedByNode++;
  }

  /** {@code events} events were sent to a watcher: by the loop, or by a catch-up thread. */
  void sent(long events) {
    eventsSent.add(events);
  }

  private void publish() {
    openView = open;
    catchingUpView = catchingUp;
  }

  /** For the metrics thread: each value a volatile read or a sum. */
  WatchStats stats() {
    return new WatchStats(openView, catchingUpView, eventsSent.sum(), endedByNode);
  }
}
