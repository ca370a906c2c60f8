package dev.kvraft.server.net;

import com.google.protobuf.CodedOutputStream;
import dev.kvraft.proto.Response;
import dev.kvraft.server.db.Replier;
import dev.kvraft.server.db.WatchSink;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The writing side of one {@link ClientConnection}: the answers and watch messages queued for the client, their
 * bytes counted against {@code limit.outbox.bytes} (and, through the {@link ConnectionBudget}, against
 * {@code limit.outbox.total.bytes}), and the virtual thread {@code kvraft-conn-writer-PEER} that writes them in the
 * order they were queued, started with the first answer (so an idle connection holds one thread, not two). Queueing
 * never blocks: a slow or dead client never blocks the database loop.
 *
 * <p>It also counts the requests the connection read and has not answered yet, by frame length, against
 * {@code limit.inflight.bytes} (and {@code limit.inflight.total.bytes} through the budget): the reader takes room for
 * each before it reads the frame's body ({@link #awaitRequestRoom}, waiting while there is none), and the request's
 * answer gives it back when it is queued ({@link #reply(Response, long)}, which every answer passes through once,
 * the connection broken or not). From then on the answer is what the client holds, bounded as an answer.
 *
 * <p>Who owns what:
 * <ul>
 *   <li>{@link #queue}: any thread adds (the database loop through each request's {@link #call} and through
 *       {@link #stream}, a watch's catch-up thread through {@link #stream}, a snapshot or backup thread through a
 *       request's {@link #call}, the reader through {@link #reply}); the writer takes; once the connection is
 *       {@link #broken}, whoever finds a message there drops it ({@link #dropAll}).
 *   <li>{@link #bytes}: added by whoever queues, before the message is in {@link #queue}; subtracted by the writer
 *       as it takes each message (or by {@link #dropAll}).
 *   <li>{@link #roomWaiter}: set and cleared by the reader around its wait in the node-wide line; read by whoever
 *       closes the connection, to wake it ({@link #wakeReader}).
 *   <li>{@link #requestBytes}: added by the reader ({@link #awaitRequestRoom}); subtracted by whoever queues the
 *       request's answer ({@link #reply(Response, long)}: the database loop, a snapshot or backup thread, the
 *       reader), or by the reader when the frame it took room for never became a request ({@link #requestDone}).
 *   <li>{@link #broken}: set by the writer when it ends, by {@link #reply} past the hard bound, or by the first
 *       queuer when there is no socket to write to; never cleared.
 *   <li>{@link #socketOut}: written once by the reader ({@link #attach}) before it reads a request; then read by
 *       whoever starts the writer. {@link #writerStarted} and {@link #writer}: set once by that thread.
 *   <li>{@code Stream.staged}: the database loop only. {@link #watches}: changed by the database loop, read by the
 *       reader (a connection with watches open is not idle).
 *   <li>Not this class's: the in-flight slots (the connection's {@code inFlight}: the reader takes one per request,
 *       this class frees it once the answer is written or dropped), the reader's room for the request it is
 *       reading (held in its {@link FrameReader.Ticket}, handed here with the request through {@link #call} or with
 *       its answer), and the socket and its closed flag (the connection's: this class only asks it to close).
 * </ul>
 */
final class Outbox {
  /** The connection's logger: these lines are the connection's, as they were before the outbox was its own class. */
  private static final Logger LOG = LoggerFactory.getLogger(ClientConnection.class);
  static final int OUT_BUFFER = 8 * 1024;
  /** What the writer takes off the outbox. */
  private sealed interface Out {}

  /** The answer to a request: writing it frees the request's in-flight slot. */
  private record Answer(Response response) implements Out {}

  /** Watch messages, in order: one loop turn's for this connection, or one catch-up message. */
  private record Messages(List<Response> messages) implements Out {}

  /** The reader is done: the writer flushes and ends. */
  private record Close() implements Out {}

  private static final Out CLOSE = new Close();
  /** For {@link #awaitDrained}: no deadline, only the connection closing ends the wait. */
  private static final long NO_DEADLINE = Long.MAX_VALUE;

  private final ClientConnection connection;
  private final String peer;
  private final ConnectionBudget budget;
  private final NetStats stats;
  /** The connection's: one slot per request read and not yet answered; freed here once its answer is written. */
  private final Semaphore inFlight;
  private final LinkedBlockingQueue<Out> queue = new LinkedBlockingQueue<>();
  /** Bytes of answers queued for this client and not yet taken by the writer. */
  private final AtomicLong bytes = new AtomicLong();
  /** Bytes (frame lengths) of requests read from this client whose answers are not queued yet. */
  private final AtomicLong requestBytes = new AtomicLong();
  /** The writer notifies it after each flush; the reader waits on it while the outbox is over its bound. */
  private final Object drained = new Object();
  /** The writer thread, started with the first answer, so an idle connection holds one thread, not two. */
  private final AtomicBoolean writerStarted = new AtomicBoolean();
  private volatile Thread writer;
  private volatile OutputStream socketOut;
  /** The writer's: when its current socket write began, 0 between writes; read by the listener's sweeper. */
  private volatile long writeBlockedSince;
  /** Watches this connection opened and the server has not ended: while any is open the connection is not idle. */
  private final AtomicInteger watches = new AtomicInteger();
  /** What the database loop answers and streams to. */
  final WatchSink stream = new Stream();
  private volatile boolean broken;
  /** The reader, while it waits in the node-wide line for room ({@link #awaitRequestRoom}); else null. */
  private volatile Thread roomWaiter;

  Outbox(ClientConnection connection, String peer, ConnectionBudget budget, NetStats stats, Semaphore inFlight) {
    this.connection = connection;
    this.peer = peer;
    this.budget = budget;
    this.stats = stats;
    this.inFlight = inFlight;
  }

  /** The reader's, once the connection has its streams: where the writer writes. */
  void attach(OutputStream socketOut) {
    this.socketOut = socketOut;
  }

  /** Whether a watch is open on this connection (then it is not idle, though no answer is owed). */
  boolean hasWatches() {
    return watches.get() > 0;
  }

  /**
   * Waits while this client's unread answers are over {@code limit.outbox.bytes} (or every client's together over
   * {@code limit.outbox.total.bytes} and this one has some): reading no more of its requests pushes back on it
   * through TCP. False when it stayed over the bound past {@code client.write.timeout.ms}: the caller closes.
   */
  boolean awaitBelowBound() throws InterruptedException {
    if (!overBound()) {
      return true;
    }
    var limits = budget.limits();
    if (awaitDrained(() -> !overBound(), System.nanoTime() + limits.writeTimeout().toNanos())) {
      return isOpen();
    }
    if (isOpen()) {
      LOG.warn("client {}: {} bytes of answers unread for {} ms (limit.outbox.bytes {},"
          + " client.write.timeout.ms); closing the connection", peer, bytes.get(),
          limits.writeTimeout().toMillis(), limits.outboxBytes());
    }
    return false;
  }

  /**
   * Reader: waits until a request of {@code length} bytes fits, then counts it (true): under {@code
   * limit.inflight.bytes} with this connection's other requests not yet answered (or it is the only one), and under
   * {@code limit.inflight.total.bytes} with every connection's (or none is held), first come first served over every
   * connection's reader ({@link ConnectionBudget#awaitRequest}). Meanwhile the reader reads nothing and TCP pushes
   * back on the client. There is no deadline: the requests that fill the bound are the server's to
   * answer (at the latest when {@code request.timeout.ms} passes, or once a paused loop goes on), the client is not at
   * fault. False, nothing counted, when the connection breaks or closes first.
   */
  boolean awaitRequestRoom(long length) throws InterruptedException {
    // This connection's own bound first (its own answers free it; only the reader adds, so it stays free), and only
    // then a place in the line for the node-wide bound, so that a place is never held while waiting for oneself.
    long bound = budget.limits().inflightBytes();
    if (!awaitDrained(() -> {
      long mine = requestBytes.get();
      return mine == 0 || mine + length <= bound;
    }, NO_DEADLINE)) {
      return false;
    }
    roomWaiter = Thread.currentThread();
    try {
      if (!budget.awaitRequest(length, this::isOpen)) {
        return false;
      }
    } finally {
      roomWaiter = null;
    }
    requestBytes.addAndGet(length);
    return true;
  }

  /**
   * The connection closed or broke: wakes its reader if it waits for room (in this connection's bounds or in the
   * node-wide line, whose place it then gives up). Called after the flag that says so is set.
   */
  void wakeReader() {
    var waiter = roomWaiter;
    if (waiter != null) {
      java.util.concurrent.locks.LockSupport.unpark(waiter);
    }
    synchronized (drained) {
      drained.notifyAll();
    }
  }

  /** A request of {@code length} bytes is answered (or never became one): its bytes leave both bounds. */
  void requestDone(long length) {
    if (length > 0) {
      requestBytes.addAndGet(-length);
      budget.releaseRequest(length);
    }
  }

  /**
   * What the database loop gets with a request of {@code length} bytes: its answer goes to
   * {@link #reply(Response, long)}, which gives the bytes back; its watches stream to {@link #stream}, the
   * connection's one sink.
   */
  Replier call(long length) {
    return new Call(length);
  }

  private final class Call implements Replier {
    private final long length;

    private Call(long length) {
      this.length = length;
    }

    @Override
    public void reply(Response response) {
      Outbox.this.reply(response, length);
    }

    @Override
    public WatchSink watchSink() {
      return stream;
    }
  }

  /**
   * Waits, woken by the writer after each flush, until {@code ready} holds (true), or the connection breaks or closes
   * or the deadline ({@link System#nanoTime()}, or {@link #NO_DEADLINE}) passes (false). {@code ready} is checked
   * first, so a wait that is not needed costs nothing, and once it holds the answer is true whatever happens next.
   */
  private boolean awaitDrained(java.util.function.BooleanSupplier ready, long deadline) throws InterruptedException {
    if (ready.getAsBoolean()) {
      return true; // the usual case: no monitor to take
    }
    synchronized (drained) {
      while (!ready.getAsBoolean()) {
        long left = deadline == NO_DEADLINE ? Long.MAX_VALUE : deadline - System.nanoTime();
        if (!isOpen() || left <= 0) {
          return false;
        }
        drained.wait(Math.max(1, Math.min(100, TimeUnit.NANOSECONDS.toMillis(left))));
      }
    }
    return true;
  }

  private boolean isOpen() {
    return !broken && !connection.isClosed();
  }

  private boolean overBound() {
    long mine = bytes.get();
    return mine > budget.limits().outboxBytes() || (mine > 0 && budget.outboxFull());
  }

  /** Queues an answer that no request's bytes are counted for (a protocol error's). Never blocks. */
  void reply(Response response) {
    reply(response, 0);
  }

  /**
   * Queues the answer to a request of {@code requestBytes} bytes, whose room in {@code limit.inflight.bytes} it gives
   * back (queued or dropped); called by the database loop (through {@link #call}) and the reader. Never blocks.
   */
  void reply(Response response, long requestBytes) {
    requestDone(requestBytes);
    if (broken) {
      inFlight.release();
      return;
    }
    long size = framedSize(response);
    long mine = bytes.addAndGet(size);
    budget.queued(size);
    queue.add(new Answer(response));
    startWriter();
    if (broken) {
      dropAll(); // the writer may have ended before the add: nothing else would take it
    }
    var limits = budget.limits();
    if (mine > 2 * limits.outboxBytes() || (budget.outboxFull() && mine > limits.outboxBytes() / 2)) {
      // Answers to requests read before the bound was reached still arrive; a client that reads none of them is cut
      // off here rather than allowed to pin the heap.
      LOG.warn("client {}: {} bytes of answers unread ({} over all clients; limit.outbox.bytes {},"
          + " limit.outbox.total.bytes {}); closing the connection", peer, mine, budget.outboxBytes(),
          limits.outboxBytes(), limits.outboxTotalBytes());
      broken = true;
      connection.closeSocket();
    }
  }

  /** The reader is done: the writer flushes what is queued and ends; waits for it at most two seconds. */
  void flushAndEnd() {
    queue.add(CLOSE);
    var w = writer;
    if (w != null) {
      try {
        w.join(TimeUnit.SECONDS.toMillis(2));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  /**
   * Since when ({@link System#nanoTime()}) the writer has been inside one write to the socket, or 0 when it is not
   * writing: a write that does not return means the client reads nothing (its window is shut).
   */
  long writeBlockedSince() {
    return writeBlockedSince;
  }

  /** The socket's stream, timing each write and flush the writer makes ({@link #writeBlockedSince}). */
  private final class TimedWrites extends java.io.FilterOutputStream {
    TimedWrites(OutputStream socket) {
      super(socket);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      writeBlockedSince = Math.max(1, System.nanoTime());
      try {
        out.write(b, off, len);
      } finally {
        writeBlockedSince = 0;
      }
    }

    @Override
    public void write(int b) throws IOException {
      write(new byte[] {(byte) b}, 0, 1);
    }

    @Override
    public void flush() throws IOException {
      writeBlockedSince = Math.max(1, System.nanoTime());
      try {
        out.flush();
      } finally {
        writeBlockedSince = 0;
      }
    }
  }

  private void startWriter() {
    if (writerStarted.compareAndSet(false, true)) {
      var raw = socketOut;
      if (raw == null) {
        broken = true; // the connection never got its streams: nothing can be written
        return;
      }
      var out = new BufferedOutputStream(new TimedWrites(raw), OUT_BUFFER);
      writer = Thread.ofVirtual().name("kvraft-conn-writer-" + peer).start(() -> writeLoop(out));
    }
  }

  private static long framedSize(Response r) {
    int size = r.getSerializedSize();
    return size + CodedOutputStream.computeUInt32SizeNoTag(size);
  }

  /** The writer took a response off the outbox. */
  private void taken(Response r) {
    long size = framedSize(r);
    bytes.addAndGet(-size);
    budget.written(size);
  }

  private void write(Response r, OutputStream out) throws IOException {
    taken(r);
    r.writeDelimitedTo(out);
    stats.wrote(framedSize(r));
  }

  /** After the connection broke: drops what is queued. The writer's CLOSE stays, for a writer still waiting for it. */
  private void dropAll() {
    boolean close = false;
    for (Out o; (o = queue.poll()) != null; ) {
      close |= o == CLOSE;
      dropped(o);
    }
    if (close) {
      queue.add(CLOSE);
    }
  }

  /** What the writer will never write (the connection broke): its bytes leave the bounds, answers free their slots. */
  private void dropped(Out o) {
    switch (o) {
      case Answer a -> {
        taken(a.response());
        inFlight.release();
      }
      case Messages m -> m.messages().forEach(this::taken);
      case Close c -> { }
    }
  }

  private void writeLoop(OutputStream out) {
    try {
      while (true) {
        var o = queue.take();
        do {
          switch (o) {
            case Close c -> {
              out.flush();
              return;
            }
            case Answer a -> {
              try {
                write(a.response(), out);
              } finally {
                inFlight.release();
              }
            }
            case Messages m -> {
              var list = m.messages();
              for (int i = 0; i < list.size(); i++) {
                try {
                  write(list.get(i), out);
                } catch (IOException e) {
                  list.subList(i + 1, list.size()).forEach(this::taken); // never written: out of the bounds
                  throw e;
                }
              }
            }
          }
        } while ((o = queue.poll()) != null);
        out.flush();
        synchronized (drained) {
          drained.notifyAll();
        }
      }
    } catch (IOException e) {
      LOG.debug("connection {}: cannot write ({}); dropping its responses", peer, e.toString());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      broken = true;
      dropAll();
      synchronized (drained) {
        drained.notifyAll();
      }
      connection.closeSocket();
    }
  }

  /**
   * The database loop's side of this connection: answers go to {@link #reply}; a watch's messages are queued while
   * the client's unread bytes stay under half of {@code limit.outbox.bytes}, so watches never push the connection
   * over its bound (the rest of the bound is for answers).
   */
  private final class Stream implements WatchSink {
    /** Not how requests are answered (each through its own {@link Call}, which gives its bytes back): none counted. */
    @Override
    public void reply(Response response) {
      Outbox.this.reply(response);
    }

    /** Loop thread only: the messages {@link #offer}ed since the last {@link #send}, already counted in the bound. */
    private List<Response> staged = new ArrayList<>();

    @Override
    public boolean offer(Response message) {
      if (!reserve(message)) {
        return false;
      }
      staged.add(message);
      return true;
    }

    @Override
    public void send() {
      if (staged.isEmpty()) {
        return;
      }
      var batch = new Messages(staged);
      staged = new ArrayList<>();
      enqueue(batch);
    }

    /** Counts the message in the bound if the connection has room for it (and is open). */
    private boolean reserve(Response message) {
      long size = framedSize(message);
      if (broken || connection.isClosed() || (bytes.get() > 0 && bytes.get() + size > room())) {
        return false;
      }
      bytes.addAndGet(size);
      budget.queued(size);
      return true;
    }

    private void enqueue(Messages batch) {
      queue.add(batch);
      startWriter();
      if (broken) {
        dropAll(); // the writer may have ended before the add: nothing else would take it
      }
    }

    @Override
    public boolean put(Response message) throws InterruptedException {
      if (!awaitDrained(() -> reserve(message), System.nanoTime() + budget.limits().writeTimeout().toNanos())) {
        return false;
      }
      enqueue(new Messages(List.of(message)));
      return true;
    }

    @Override
    public boolean awaitRoom() throws InterruptedException {
      return awaitDrained(() -> bytes.get() <= room() / 2,
          System.nanoTime() + budget.limits().writeTimeout().toNanos()) && isOpen();
    }

    private long room() {
      return budget.limits().outboxBytes() / 2;
    }

    @Override
    public boolean isOpen() {
      return Outbox.this.isOpen();
    }

    @Override
    public void close() {
      connection.close();
    }

    @Override
    public void watching(int delta) {
      watches.addAndGet(delta);
    }

    @Override
    public String peer() {
      return peer;
    }
  }
}
