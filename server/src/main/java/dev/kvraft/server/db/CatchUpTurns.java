package dev.kvraft.server.db;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.function.BooleanSupplier;

/**
 * Turns to hold {@code kvraft.db} open for a watch's catch-up ({@link WatchCatchUp}): at most {@code nodeWide} run
 * at a time on the node and at most {@code perConnection} of one connection's. A catch-up that must wait is not
 * started yet: it waits here as a pending start, costing no thread, and connections take turns (each connection's
 * own catch-ups in the order they came). The second bound keeps one client, reading its events slowly, from holding
 * every turn while other clients' watches wait; a catch-up also gives its turn up after a slice when another could
 * take it ({@link #wouldHandOn}, {@link WatchCatchUp#SLICE_NANOS}).
 *
 * <p>Thread-safe (one lock): the loop submits catch-ups; their threads say when they are done. A pending catch-up
 * that is no longer wanted (its watch ended, its connection closed) is dropped when its turn comes, and every
 * pending one of a closed connection as soon as the loop learns it closed ({@link #forget}, from
 * {@link Watches#closed}), or at the next hand-out if that comes first.
 */
final class CatchUpTurns {
  private final int nodeWide;
  private final int perConnection;
  // Guarded by this.
  private int running;
  private final HashMap<WatchSink, Integer> runningBy = new HashMap<>();
  /** Connections with catch-ups waiting, in the order they take turns; each one's in the order they came. */
  private final LinkedHashMap<WatchSink, ArrayDeque<Pending>> pending = new LinkedHashMap<>();

  private record Pending(BooleanSupplier gone, Runnable start, Runnable failed) {}

  CatchUpTurns(int nodeWide, int perConnection) {
    this.nodeWide = nodeWide;
    this.perConnection = perConnection;
  }

  /**
   * Starts a catch-up of {@code sink}'s now ({@code start} runs here) or once a turn is free; {@code gone}: it is
   * no longer wanted; {@code failed}: its start threw (no thread), so its watch must be ended some other way. Its
   * thread calls {@link #finished} when it is done, whatever happened.
   */
  synchronized void submit(WatchSink sink, BooleanSupplier gone, Runnable start, Runnable failed) {
    var queue = pending.computeIfAbsent(sink, k -> new ArrayDeque<>());
    queue.add(new Pending(gone, start, failed));
    if (queue.size() >= 64 && Integer.bitCount(queue.size()) == 1) {
      queue.removeIf(p -> p.gone().getAsBoolean()); // cancelled and opened again, over and over: not kept
    }
    handOut();
  }

  /** {@code sink}'s connection closed (the loop): its catch-ups waiting for a turn go, turns free or not. */
  synchronized void forget(WatchSink sink) {
    pending.remove(sink);
  }

  /** A catch-up of {@code sink}'s that {@link #submit} started is done: its turn goes to the next. */
  synchronized void finished(WatchSink sink) {
    giveBack(sink);
    handOut();
  }

  private void giveBack(WatchSink sink) {
    running--;
    runningBy.computeIfPresent(sink, (k, n) -> n == 1 ? null : n - 1);
  }

  private void handOut() {
    while (running < nodeWide) {
      Pending next = null;
      WatchSink from = null;
      for (var it = pending.entrySet().iterator(); it.hasNext(); ) {
        var e = it.next();
        var queue = e.getValue();
        if (!e.getKey().isOpen()) {
          it.remove(); // a closed connection's catch-ups are all unwanted
          continue;
        }
        if (runningBy.getOrDefault(e.getKey(), 0) >= perConnection) {
          continue;
        }
        while (!queue.isEmpty() && queue.peek().gone().getAsBoolean()) {
          queue.poll();
        }
        if (queue.isEmpty()) {
          it.remove();
          continue;
        }
        next = queue.poll();
        from = e.getKey();
        it.remove();
        if (!queue.isEmpty()) {
          pending.put(from, queue); // to the back: connections take turns
        }
        break;
      }
      if (next == null) {
        return;
      }
      running++;
      runningBy.merge(from, 1, Integer::sum);
      try {
        next.start().run();
      } catch (RuntimeException | java.lang.Error e) {
        giveBack(from); // no thread to say it is done
        Watches.warn("a watch catch-up could not start ({}); its connection is closed so that its client resumes",
            e.toString());
        next.failed().run(); // and the next gets the turn
      }
    }
  }

  /**
   * Whether a turn {@code sink}'s catch-up gives up would go to a catch-up that waits and is still wanted: one of
   * {@code sink}'s own, or one of a connection below {@code perConnection} (a connection at its bound could not take
   * it, and the catch-up would only stop and start again).
   */
  synchronized boolean wouldHandOn(WatchSink sink) {
    for (var it = pending.entrySet().iterator(); it.hasNext(); ) {
      var e = it.next();
      var s = e.getKey();
      var queue = e.getValue();
      // Dropped as they are looked at, as handOut does: a scan does not look at the same unwanted ones again.
      if (!s.isOpen()) {
        it.remove();
        continue;
      }
      if (s != sink && runningBy.getOrDefault(s, 0) >= perConnection) {
        continue; // at its bound: could not take the turn (its queue is left for handOut)
      }
      queue.removeIf(p -> p.gone().getAsBoolean());
      if (queue.isEmpty()) {
        it.remove();
        continue;
      }
      if (s == sink || runningBy.getOrDefault(s, 0) < perConnection) {
        return true;
      }
    }
    return false;
  }

  /** Catch-ups waiting for a turn (for tests and metrics). */
  synchronized int waiting() {
    int n = 0;
    for (var queue : pending.values()) {
      n += queue.size();
    }
    return n;
  }

  /** {@code sink}'s catch-ups that run or wait for a turn (for tests). */
  synchronized int runningOrWaiting(WatchSink sink) {
    var queue = pending.get(sink);
    return runningBy.getOrDefault(sink, 0) + (queue == null ? 0 : queue.size());
  }
}
