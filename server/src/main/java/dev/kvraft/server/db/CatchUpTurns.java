package dev.kvraft.server.db;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;

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
    int users;

    Connection(int perConnection) {
      turns = new Semaphore(perConnection, true);
    }
  }

  CatchUpTurns(int nodeWide, int perConnection) {
    this.node = new Semaphore(nodeWide, true);
    this.perConnection = perConnection;
  }

  /** Waits for a turn for a catch-up of {@code sink}'s; give it back with {@link #release}. */
  void acquire(WatchSink sink) throws InterruptedException {
    var c = connections.compute(sink, (k, v) -> {
      var x = v == null ? new Connection(perConnection) : v;
      x.users++;
      return x;
    });
    try {
      c.turns.acquire();
      try {
        node.acquire();
      } catch (InterruptedException e) {
        c.turns.release();
        throw e;
      }
    } catch (InterruptedException e) {
      leave(sink);
      throw e;
    }
  }

  /** Gives back a turn {@link #acquire} gave for {@code sink}. */
  void release(WatchSink sink) {
    node.release();
    connections.get(sink).turns.release();
    leave(sink);
  }

  private void leave(WatchSink sink) {
    connections.computeIfPresent(sink, (k, v) -> --v.users == 0 ? null : v);
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
