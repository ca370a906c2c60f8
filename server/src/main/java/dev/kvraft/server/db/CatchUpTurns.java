package dev.kvraft.server.db;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * Turns to hold {@code kvraft.db} open for a watch's catch-up ({@link WatchCatchUp}): at most {@code nodeWide} at a
 * time on the node and at most {@code perConnection} for one connection, each first come first served. The second
 * bound keeps one client, reading its events slowly (a turn lasts as long as its catch-up waits for it), from holding
 * every turn while other clients' watches wait.
 *
 * <p>Thread-safe: the catch-ups' threads take and give back turns; a connection's entry lives while one of its
 * catch-ups holds or waits for a turn.
 */
final class CatchUpTurns {
  private final Semaphore node;
  private final int perConnection;
  private final ConcurrentHashMap<WatchSink, Connection> connections = new ConcurrentHashMap<>();

  /** One connection's turns, and how many of its catch-ups hold or wait for one (changed under the map's lock). */
  private static final class Connection {
    final Semaphore turns;
    volatile int users;

    Connection(int perConnection) {
      turns = new Semaphore(perConnection, true);
    }
  }

  CatchUpTurns(int nodeWide, int perConnection) {
    this.node = new Semaphore(nodeWide, true);
    this.perConnection = perConnection;
  }

  /**
   * Waits for a turn for a catch-up of {@code sink}'s, looking every {@value #RECHECK_MILLIS} ms whether it is still
   * wanted ({@code gone}: its watch ended, its connection closed); true with a turn, to give back with
   * {@link #release}; false, holding none, once it is not wanted (a cancelled watch does not wait on, holding its
   * connection's memory).
   */
  boolean acquire(WatchSink sink, BooleanSupplier gone) throws InterruptedException {
    var c = connections.compute(sink, (k, v) -> {
      var x = v == null ? new Connection(perConnection) : v;
      x.users++;
      return x;
    });
    boolean mine = false;
    boolean turn = false;
    try {
      mine = waitFor(c.turns, gone);
      turn = mine && waitFor(node, gone);
      return turn;
    } finally {
      if (!turn) {
        if (mine) {
          c.turns.release();
        }
        leave(sink);
      }
    }
  }

  private static boolean waitFor(Semaphore s, BooleanSupplier gone) throws InterruptedException {
    while (!s.tryAcquire(RECHECK_MILLIS, TimeUnit.MILLISECONDS)) {
      if (gone.getAsBoolean()) {
        return false;
      }
    }
    if (gone.getAsBoolean()) {
      s.release();
      return false;
    }
    return true;
  }

  static final long RECHECK_MILLIS = 100;

  /** Gives back a turn {@link #acquire} gave for {@code sink}. */
  void release(WatchSink sink) {
    node.release();
    connections.get(sink).turns.release();
    leave(sink);
  }

  private void leave(WatchSink sink) {
    connections.computeIfPresent(sink, (k, v) -> --v.users == 0 ? null : v);
  }

  /** {@code sink}'s catch-ups that hold or wait for a turn (for tests). */
  int holdingOrWaiting(WatchSink sink) {
    var c = connections.get(sink);
    return c == null ? 0 : c.users;
  }

  /** Catch-ups waiting for a turn, node-wide or for their connection's (an estimate, for tests and metrics). */
  int waiting() {
    int n = node.getQueueLength();
    for (var c : connections.values()) {
      n += c.turns.getQueueLength();
    }
    return n;
  }
}
