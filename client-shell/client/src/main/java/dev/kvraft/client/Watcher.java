package dev.kvraft.client;

import dev.kvraft.proto.Error;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import dev.kvraft.proto.Watch;
import java.io.IOException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One watch opened by {@link KvClient#watch}: streams a range's changes to a {@link WatchListener}, and survives the
 * loss of the node it watches on. When the connection breaks, its node falls silent (the connection's watchdog
 * drops it: {@link KvClient.Builder#watchKeepAlive}), or the node ends the watch (it installed a snapshot and
 * lacks the history; or it has known no leader for three election timeouts, so it may be cut off from the
 * majority: every watch is opened with {@code require_leader}, since such a node still answers the keep-alive and
 * would otherwise keep the watch, silent, for as long as the partition lasts), it opens the watch again on the next
 * node, after a backoff, from the revision after the last one delivered: no revision is missed and none comes
 * twice. It gives up only when every node says the history it needs is
 * compacted ({@link WatchListener#onError}), when the request itself is refused, or when its client is closed
 * ({@code onError} with {@link UnavailableException}; at once, also from a backoff).
 *
 * <p>Threads: messages arrive on the connection's reader thread and are queued; the virtual thread
 * {@code kvraft-watch-ID} delivers them to the listener and reopens the watch when needed. The reader never waits
 * for the listener: it reads the answers of every other call on the same connection. When {@value #QUEUED} messages
 * wait, the reader cancels the stream and queues {@link Behind}; once the listener has taken what was queued, the
 * watch is opened again on the same node from the next revision, and the node catches it up from its history. Every
 * field below except the queue, {@link #queued}, {@link #closed}, {@link #stopping} and {@link #connecting} (with
 * its lock) belongs to the delivery thread.
 *
 * <p>Closing: {@link #close} returns at once, or as soon as a listener callback under way has returned. It does not
 * wait for the delivery thread's own waits: a backoff ends when {@link #stopping} is counted down, and a connection
 * being opened for the watch (connecting, a TLS handshake, a login, or waiting for another thread of the client that
 * is connecting: each may take seconds on a node that does not answer) is cut short by interrupting the delivery
 * thread. It is interrupted only there, under {@link #connectingLock}, and its interrupt status is cleared before it
 * goes on: never while it runs the listener's code.
 */
public final class Watcher implements AutoCloseable {
  private static final int QUEUED = 1024;
  private static final long MAX_BACKOFF_MILLIS = 2_000;

  /** What the delivery thread handles, in order. */
  private sealed interface Item {}

  private record Message(Connection connection, long id, Response response) implements Item {}

  private record Lost(Connection connection, long id, String why) implements Item {}

  /** The listener fell {@value #QUEUED} messages behind: the reader cancelled the stream, which is reopened. */
  private record Behind(Connection connection, long id) implements Item {}

  private record Stop() implements Item {}

  private final KvClient client;
  private final Watch watch;
  private final WatchListener listener;
  private final LinkedBlockingQueue<Item> queue = new LinkedBlockingQueue<>();
  /** Messages in the queue, at most {@value #QUEUED}: counted up by the readers, down by the delivery thread. */
  private final java.util.concurrent.atomic.AtomicInteger queued = new java.util.concurrent.atomic.AtomicInteger();
  private final Thread thread;
  private volatile boolean closed;
  /** Counted down by {@link #close} and by its client's close: a backoff under way ends at once. */
  private final CountDownLatch stopping = new CountDownLatch(1);
  /** Guards {@link #connecting}: close() interrupts the delivery thread only while it is set. */
  private final ReentrantLock connectingLock = new ReentrantLock();
  /** Whether the delivery thread is in {@link #connect}, the one wait of it that close() interrupts. */
  private boolean connecting;
  private volatile long lastRevision;

  // ---- the delivery thread's ----
  /** The first revision not delivered yet; 0 until a watch "from now" was created. */
  private long next;
  private Connection connection;
  private long id;
  private int address;
  /** Nodes in a row that answered COMPACTED, and the highest compact revision they named. */
  private int compactedNodes;
  private long compactRevision;
  private int failures;

  Watcher(KvClient client, Watch watch, WatchListener listener) {
    this.client = client;
    // Always: a node cut off from the majority ends the watch, and it moves to a node that still hears the leader.
    this.watch = watch.toBuilder().setRequireLeader(true).build();
    this.listener = listener;
    this.next = watch.getStartRevision();
    this.thread = Thread.ofVirtual().name("kvraft-watch-" + Long.toHexString(System.identityHashCode(this)))
        .unstarted(this::run);
  }

  Watcher start() {
    thread.start();
    return this;
  }

  /** The revision of the last event (or progress notification) delivered to the listener; 0 before any. */
  public long lastRevision() {
    return lastRevision;
  }

  /** Whether the watch still runs: not closed by {@link #close}, not ended by {@link WatchListener#onError}. */
  public boolean isOpen() {
    return thread.isAlive();
  }

  /** Whether {@link #close} was called (the watch may still be ending). */
  boolean isClosing() {
    return closed;
  }

  /**
   * Ends the watch: the server is told (when the watch's connection is alive), and the listener gets nothing more
   * once this returns. Returns at once when the watch is backing off before it reopens, or opening its connection
   * to a node that does not answer: those are cut short. A listener callback under way is not interrupted: this
   * waits for it to return, up to 5 s.
   */
  @Override
  public void close() {
    closed = true;
    queue.clear();
    queue.offer(new Stop());
    stopping.countDown();
    if (Thread.currentThread() != thread) {
      connectingLock.lock();
      try {
        if (connecting) {
          thread.interrupt(); // it is in connect(), which clears the interrupt before it returns
        }
      } finally {
        connectingLock.unlock();
      }
      try {
        thread.join(TimeUnit.SECONDS.toMillis(5));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  private void run() {
    try {
      if (!open()) {
        return;
      }
      while (!closed) {
        var item = queue.take();
        switch (item) {
          case Stop s -> {
            return;
          }
          case Lost l -> {
            if (l.connection() == connection && l.id() == id && !reopen(l.why())) {
              return;
            }
          }
          case Behind b -> {
            if (b.connection() == connection && b.id() == id) {
              connection = null; // its stream is ended and cancelled already
              if (!open()) {
                return;
              }
            }
          }
          case Message m -> {
            queued.decrementAndGet();
            if (m.connection() == connection && m.id() == id && !handle(m.response())) {
              return;
            }
          }
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      cancel();
      client.ended(this);
    }
  }

  /**
   * Opens the watch on the current address (moving on while nodes cannot be reached); false when the watch ends
   * instead: it was closed, or its client was (the listener is told).
   */
  private boolean open() throws InterruptedException {
    while (!closed) {
      if (client.isClosed()) {
        listener.onError(new UnavailableException("the client was closed: the watch ended"
            + (next > 0 ? " before revision " + next : ""), ""));
        return false;
      }
      var addresses = client.addresses();
      var target = addresses.get(Math.floorMod(address, addresses.size()));
      try {
        var opened = connect(target);
        if (opened == null) {
          return false; // closed: no stream is opened, so there is none to cancel
        }
        connection = opened;
        id = client.nextId();
        var request = Request.newBuilder().setId(id).setWatch(watch.toBuilder().setStartRevision(next)).build();
        var c = connection;
        var myId = id;
        c.stream(request, new Connection.StreamListener() {
          @Override
          public void message(Response r) {
            if (queued.incrementAndGet() <= QUEUED) {
              enqueue(new Message(c, myId, r));
              return;
            }
            // The listener is this far behind: stop the stream here rather than wait (this thread reads every
            // answer of the connection). The delivery thread reopens it from the revision after its last one.
            queued.decrementAndGet();
            c.endStream(myId);
            c.send(Request.newBuilder().setId(client.nextId()).setCancelWatch(
                dev.kvraft.proto.CancelWatch.newBuilder().setWatchId(myId)).build());
            enqueue(new Behind(c, myId));
          }

          @Override
          public void lost(IOException cause) {
            enqueue(new Lost(c, myId, cause.getMessage()));
          }
        });
        return true;
      } catch (IOException | KvException e) {
        failures++;
        backoff();
        address++;
      }
    }
    return false;
  }

  /**
   * The connection to {@code target} ({@link KvClient#connectionTo}), or null when the watch was closed before or
   * meanwhile. close() interrupts this thread only while it is in here, so that opening a connection to a node that
   * does not answer does not hold it up; the interrupt is cleared before this returns, so it reaches nothing else
   * (the listener least of all). Throws what connecting threw, an interrupted connect's failure included.
   */
  private Connection connect(String target) throws IOException {
    connectingLock.lock();
    try {
      if (closed) {
        return null;
      }
      connecting = true;
    } finally {
      connectingLock.unlock();
    }
    Connection c;
    try {
      c = client.connectionTo(target);
    } finally {
      connectingLock.lock();
      try {
        connecting = false;
        Thread.interrupted(); // close()'s interrupt, if any, was for the wait above only
      } finally {
        connectingLock.unlock();
      }
    }
    return closed ? null : c;
  }

  /**
   * Its client was closed: a backoff under way ends now, and the watch with it ({@code onError}). Opening a
   * connection needs no more: the client's close ends a login under way, and opens nothing after.
   */
  void clientClosed() {
    stopping.countDown();
  }

  /** Called on a connection's reader thread: never waits. */
  private void enqueue(Item item) {
    if (!closed) {
      queue.add(item);
    }
  }

  /** Handles one message of the current stream; false when the watch ended for good. */
  private boolean handle(Response r) throws InterruptedException {
    if (r.hasError()) {
      var e = r.getError();
      if (e.getCode() == Error.Code.COMPACTED) {
        return compacted(e.getCompactRevision(), KvException.of(e).getMessage());
      }
      if (e.getCode() == Error.Code.UNAVAILABLE || e.getCode() == Error.Code.OVERLOADED
          || e.getCode() == Error.Code.TIMEOUT) {
        return reopen(e.getMessage());
      }
      listener.onError(KvException.of(e));
      return false;
    }
    var w = r.getWatch();
    if (w.getCreated()) {
      failures = 0;
      if (next == 0) {
        next = r.getHeader().getRevision() + 1;
        return progress(r.getHeader().getRevision());
      }
      return true;
    }
    if (w.getCanceled()) {
      if (w.getCompactRevision() > 0) {
        return compacted(w.getCompactRevision(), w.getCancelReason());
      }
      return reopen(w.getCancelReason());
    }
    if (w.getProgress()) {
      if (r.getHeader().getRevision() >= next) {
        next = r.getHeader().getRevision() + 1;
        return progress(r.getHeader().getRevision());
      }
      return true;
    }
    var events = w.getEventsList();
    if (events.isEmpty()) {
      return true;
    }
    // Never twice: a stream reopened elsewhere starts at next, but be strict anyway.
    if (events.getFirst().getKv().getModRevision() < next) {
      events = events.stream().filter(ev -> ev.getKv().getModRevision() >= next).toList();
      if (events.isEmpty()) {
        return true;
      }
    }
    compactedNodes = 0;
    long first = events.getFirst().getKv().getModRevision();
    long revision = events.getLast().getKv().getModRevision();
    try {
      listener.onEvents(events, revision);
    } catch (RuntimeException | java.lang.Error e) {
      return listenerFailed("the events of revisions " + first + ".." + revision, first, e);
    }
    next = revision + 1;
    lastRevision = revision;
    return true;
  }

  private boolean progress(long revision) {
    lastRevision = Math.max(lastRevision, revision);
    try {
      listener.onProgress(revision);
    } catch (RuntimeException | java.lang.Error e) {
      // Every event up to revision was delivered already: nothing is lost from there.
      return listenerFailed("progress to revision " + revision, revision + 1, e);
    }
    return true;
  }

  /**
   * The listener threw: the watch ends (going on would skip what it failed on, delivering it again could fail
   * forever), and the listener is told why, with where to watch again from.
   */
  private boolean listenerFailed(String what, long resumeFrom, Throwable e) {
    try {
      listener.onError(new InternalException("the watch listener threw " + e + " on " + what
          + "; the watch ended: watch again from revision " + resumeFrom + " to go on", e));
    } catch (RuntimeException again) {
      e.addSuppressed(again); // it ends anyway
    }
    return false;
  }

  /**
   * A node lacks the history from {@link #next}: another may still have it (one that did not install a snapshot,
   * or prunes less). Once every node said so, the listener is told and the watch ends.
   */
  private boolean compacted(long compactRevision, String message) throws InterruptedException {
    this.compactRevision = Math.max(this.compactRevision, compactRevision);
    if (++compactedNodes >= client.addresses().size()) {
      listener.onError(new CompactedException("watch from revision " + next + ": " + message, this.compactRevision));
      return false;
    }
    stopStream();
    address++;
    return open();
  }

  /**
   * The stream broke or the node ended it: open it again, on the next node, from {@link #next}; false when the watch
   * ended instead.
   */
  private boolean reopen(String why) throws InterruptedException {
    stopStream();
    failures++;
    address++;
    backoff();
    return open();
  }

  /** Waits before reopening, longer after each failure in a row; close() ends the wait at once. */
  private void backoff() throws InterruptedException {
    if (failures > 0 && !closed && !client.isClosed()) {
      stopping.await(Math.min(MAX_BACKOFF_MILLIS, 50L << Math.min(failures, 6)), TimeUnit.MILLISECONDS);
    }
  }

  private void stopStream() {
    if (connection != null) {
      connection.endStream(id);
      var c = connection;
      var cancelled = id;
      connection = null;
      if (c.isOpen()) {
        c.send(Request.newBuilder().setId(client.nextId()).setCancelWatch(
            dev.kvraft.proto.CancelWatch.newBuilder().setWatchId(cancelled)).build());
      }
    }
  }

  private void cancel() {
    stopStream();
  }
}
