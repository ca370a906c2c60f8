package dev.kvraft.server.db;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import dev.kvraft.proto.KeyValue;
import dev.kvraft.proto.WatchResult;
import dev.kvraft.storage.HistoryReader;
import dev.kvraft.storage.StorageException;
import java.util.HashMap;
import java.util.concurrent.TimeUnit;

/**
 * Brings one watcher from a past revision up to what {@code kvraft.db} holds, on a virtual thread of its own
 * ({@code kvraft-watch-catchup-ID}), never on the database loop: reads a page of changes, sends the watcher's events
 * in whole revisions, waiting for the client as long as {@code client.write.timeout.ms} allows, and at the end of
 * the recorded history hands the watcher back to the loop ({@link Watches#join}). At most
 * {@value #READERS} catch-ups read kvraft.db at a time; one that waits for its client holds no read slot. At most
 * {@value #OPEN_AT_ONCE} run at a time, {@value #OPEN_PER_CONNECTION} of one connection's; the others are started
 * when their turn comes ({@link CatchUpTurns}), connection by connection, and one that has run for
 * {@link #SLICE_NANOS} gives its turn up between two messages, to one that could take it, and queues again to go on:
 * each
 * holds a SQLite connection (three file descriptors), a page ({@value #PAGE_BYTES} bytes of keys and values) and up
 * to {@value #SEEN_BYTES} bytes of keys seen until it is done, and watches from the past could otherwise take the
 * descriptors Raft's log needs (up to {@code limit.watches} of them, each with its own catch-up).
 *
 * <p>Owns the watcher's position while it runs (the loop does not touch a watcher that is behind).
 */
final class WatchCatchUp implements Runnable {
  static final int READERS = 4;
  static final int OPEN_AT_ONCE = 16;
  /** At most this many of one connection's (each for a slice at a time while others wait: {@link #SLICE_NANOS}). */
  static final int OPEN_PER_CONNECTION = 4;
  static final int PAGE_ROWS = 2_000;
  /** Keys and values of one page in memory at most (a single larger revision comes whole). */
  static final long PAGE_BYTES = 4L << 20;
  /** When the loop sent the watcher back (kvraft.db was behind the revisions kept in memory): wait this long first. */
  private static final long RETRY_MILLIS = 50;
  /** Keys whose latest change this catch-up saw, for prev_kv without a query: at most this many bytes. */
  private static final long SEEN_BYTES = 16L << 20;
  /**
   * A catch-up that has held its turn this long gives it up as soon as another catch-up that could take it waits, and
   * queues again to go on from where it is: a client that reads its events slowly (never slowly enough to be closed)
   * holds a turn for at most about this long at a time, not until its history is done.
   */
  static final long SLICE_NANOS = TimeUnit.SECONDS.toNanos(1);
  /** What {@link #send} says when the catch-up must stop: the client stopped reading (its connection is closed). */
  private static final long STOPPED = -1;

  private final Watches hub;
  private final Watcher w;
  private final long from;
  private final boolean retry;
  /** System.nanoTime() when the loop asked for it: a retry waits only what is left of RETRY_MILLIS after its turn. */
  private final long asked;
  /** Bytes of keys and values in the catch-up's map of keys seen. */
  private long seenBytes;
  /** System.nanoTime() when this run got its turn (its thread started). */
  private long turnStarted;

  private WatchCatchUp(Watches hub, Watcher w, long from, boolean retry, long asked) {
    this.asked = asked;
    this.hub = hub;
    this.w = w;
    this.from = from;
    this.retry = retry;
  }

  /** Starts the catch-up on a thread of its own once it has a turn ({@link CatchUpTurns}). */
  static void start(Watches hub, Watcher w, long from, boolean retry) {
    long asked = System.nanoTime();
    hub.catchUps().submit(w.sink, () -> w.ended || !w.sink.isOpen(),
        () -> Thread.ofVirtual().name("kvraft-watch-catchup-" + w.id)
            .start(new WatchCatchUp(hub, w, from, retry, asked)),
        w.sink::close);
  }

  @Override
  public void run() {
    turnStarted = System.nanoTime();
    HistoryReader reader = null;
    long next = from;
    try {
      if (retry) {
        // Holding a turn: only what is left of the wait after the time spent waiting for the turn.
        long left = TimeUnit.MILLISECONDS.toNanos(RETRY_MILLIS) - (System.nanoTime() - asked);
        if (left > 0) {
          TimeUnit.NANOSECONDS.sleep(left);
        }
      }
      if (!hub.history().recording()) {
        cancel("node " + hub.nodeId() + " stopped recording history in kvraft.db (see its log); watch from another"
            + " node", 0);
        return;
      }
      reader = hub.history().open();
      if (reader == null) {
        cancel("node " + hub.nodeId() + " keeps no history to start a watch in the past; watch from revision 0",
            0);
        return;
      }
      var seen = new HashMap<ByteString, HistoryReader.Change>();
      while (!w.ended && w.sink.isOpen()) {
        HistoryReader.Page page;
        hub.readers().acquire();
        try {
          page = reader.read(next, PAGE_ROWS, PAGE_BYTES);
        } finally {
          hub.readers().release();
        }
        if (page.compactedBelow() > 0) {
          cancel("revision " + next + " is no longer in node " + hub.nodeId() + "'s history, which starts at"
              + " revision " + page.compactedBelow() + " (compacted, pruned by log.retention, or before a snapshot"
              + " this node installed)", page.compactedBelow());
          return;
        }
        long sent = send(page, reader, seen);
        if (sent == STOPPED) {
          return;
        }
        next = sent > 0 ? sent : page.next();
        if (sent > 0 || !page.end() && yields()) {
          goOnLater(next);
          return;
        }
        if (page.end()) {
          // Back to the loop only once the client has room: else the loop would find the connection full again.
          if (!w.sink.awaitRoom()) {
            slow();
            return;
          }
          long at = next;
          hub.onLoop(() -> hub.join(w, at));
          return;
        }
      }
    } catch (StorageException e) {
      Watches.warn("watch {} of {}: cannot read history from kvraft.db: {}; cancelling it", w.id, w.sink.peer(),
          e.getMessage());
      try {
        cancel("node " + hub.nodeId() + " cannot read its history: " + e.getMessage(), 0);
      } catch (InterruptedException again) {
        Thread.currentThread().interrupt();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (RuntimeException | java.lang.Error e) {
      // A watch whose catch-up died untold would stay registered and silent for good: end it, and tell the client.
      Watches.warn("watch {} of {}: its catch-up from kvraft.db failed ({}); cancelling it", w.id, w.sink.peer(),
          e.toString());
      try {
        cancel("node " + hub.nodeId() + " could not read its history (an internal error, in its log); watch again,"
            + " or from another node", 0);
      } catch (InterruptedException again) {
        Thread.currentThread().interrupt();
      } catch (RuntimeException | java.lang.Error again) {
        w.sink.close(); // the connection's end tells the client; the loop ends its watches then
      }
    } finally {
      try {
        if (reader != null) {
          reader.close();
        }
      } finally {
        hub.catchUps().finished(w.sink); // its turn goes to the next catch-up
      }
    }
  }

  /** Whether this run has held its turn for its slice while another catch-up waits that could take it. */
  private boolean yields() {
    return System.nanoTime() - turnStarted > SLICE_NANOS && hub.catchUps().wouldHandOn(w.sink);
  }

  /**
   * Gives the turn up (the caller returns, and its {@code finally} hands the turn on) and queues the rest of this
   * catch-up, from revision {@code next}, behind the catch-ups that wait. The watcher stays behind meanwhile.
   */
  private void goOnLater(long next) {
    start(hub, w, next, false);
  }

  /**
   * The page's events for this watcher, whole revisions per message: 0 when it sent them all, {@link #STOPPED} when
   * the client stopped reading, or the revision to go on from when it {@link #yields} its turn after a message.
   */
  private long send(HistoryReader.Page page, HistoryReader reader, HashMap<ByteString, HistoryReader.Change> seen)
      throws InterruptedException, StorageException {
    var events = WatchResult.newBuilder();
    long bytes = 0;
    long lastEvent = 0;
    var changes = page.changes();
    for (int i = 0; i < changes.size(); i++) {
      var c = changes.get(i);
      var key = UnsafeByteOperations.unsafeWrap(c.key());
      if (w.holds(c.key()) && w.wants(c.delete())) {
        events.addEvents(event(c, key, reader, seen));
        bytes += 64 + c.key().length + (c.value() == null ? 0 : c.value().length);
        lastEvent = c.revision();
      }
      if (w.watch.getPrevKv()) {
        long size = c.key().length + (c.value() == null ? 0 : c.value().length);
        if (seenBytes + size > SEEN_BYTES) {
          seen.clear();
          seenBytes = 0;
        }
        var before = seen.put(key, c);
        seenBytes += size - (before == null ? 0 : before.key().length
            + (before.value() == null ? 0 : before.value().length));
      }
      boolean revisionEnds = i + 1 == changes.size() || changes.get(i + 1).revision() != c.revision();
      if (revisionEnds && bytes >= WatchMessages.MESSAGE_BYTES) {
        if (!put(events, lastEvent)) {
          return STOPPED;
        }
        events = WatchResult.newBuilder();
        bytes = 0;
        if (i + 1 < changes.size() && yields()) {
          return c.revision() + 1; // every change up to this revision is sent or not the watcher's
        }
      }
    }
    return events.getEventsCount() == 0 || put(events, lastEvent) ? 0 : STOPPED;
  }

  private dev.kvraft.proto.Event event(HistoryReader.Change c, ByteString key, HistoryReader reader,
      HashMap<ByteString, HistoryReader.Change> seen) throws StorageException {
    var e = dev.kvraft.proto.Event.newBuilder();
    if (c.delete()) {
      e.setType(dev.kvraft.proto.Event.Type.DELETE).setKv(KeyValue.newBuilder().setKey(key)
          .setModRevision(c.revision()));
    } else {
      e.setType(dev.kvraft.proto.Event.Type.PUT).setKv(keyValue(c));
    }
    if (w.watch.getPrevKv()) {
      var prev = seen.containsKey(key) ? seen.get(key) : reader.before(c.key(), c.revision());
      if (prev != null && !prev.delete()) {
        e.setPrevKv(keyValue(prev));
      }
    }
    return e.build();
  }

  private static KeyValue keyValue(HistoryReader.Change c) {
    return KeyValue.newBuilder().setKey(UnsafeByteOperations.unsafeWrap(c.key()))
        .setValue(UnsafeByteOperations.unsafeWrap(c.value() == null ? new byte[0] : c.value()))
        .setCreateRevision(c.createRevision()).setModRevision(c.revision()).setVersion(c.version()).build();
  }

  private boolean put(WatchResult.Builder events, long revision) throws InterruptedException {
    if (w.ended) {
      return false;
    }
    if (w.sink.put(hub.messages().message(w.id, revision, events))) {
      hub.counts().sent(events.getEventsCount());
      return true;
    }
    slow();
    return false;
  }

  /** The client read nothing for client.write.timeout.ms: its connection is closed (the loop then ends its watches). */
  private void slow() {
    if (w.sink.isOpen()) {
      Watches.warn("watch {} of {}: the client read none of its events for client.write.timeout.ms; closing the"
          + " connection (a client resumes its watches from their last revision when it reconnects)", w.id,
          w.sink.peer());
      w.sink.close();
    }
  }

  /** Ends the watch and tells the client why (the last message of its stream). */
  private void cancel(String reason, long compactRevision) throws InterruptedException {
    // Looked at before asking the loop to end it: the loop may end it (setting ended) before this thread goes on,
    // and the client must still be told why.
    if (w.ended) {
      return; // the client cancelled it (its cancel_watch answer ends the stream), or its connection closed
    }
    hub.onLoop(() -> hub.end(w));
    if (!w.sink.put(hub.messages().canceled(w.id, 0, reason, compactRevision)) && w.sink.isOpen()) {
      w.sink.close();
    }
  }
}
