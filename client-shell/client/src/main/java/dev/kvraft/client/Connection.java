package dev.kvraft.client;

import dev.kvraft.proto.HostPort;

import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * One pipelined TCP connection to one node. Any thread may {@link #send}: it only queues; a writer virtual thread
 * writes whatever is queued and flushes once (many callers, few syscalls). A reader virtual thread completes the
 * matching futures by request id. When the connection ends every unanswered future fails with
 * {@link ConnectionLost}.
 *
 * <p>While streams (watches) are open on it, a watchdog virtual thread ({@code kvraft-client-watchdog-ADDRESS})
 * checks that the node is still there, since a watch sends nothing that a silent node could leave unanswered: once
 * nothing at all arrived for {@link Liveness#quiet}, it sends a {@code members} request (answered from the node's
 * own state, by any node, to any user), and when nothing arrived within {@code quiet} more either, it ends the
 * connection as lost, so that the watches resume on another node. Without streams, calls do that check themselves
 * ({@link Calls}). The watchdog's only state is {@link #watchdogRuns}, which it and {@link #stream} share.
 */
final class Connection implements AutoCloseable {
  /** The connection ended before the response arrived; the request may or may not have been processed. */
  static final class ConnectionLost extends IOException {
    ConnectionLost(String message, Throwable cause) {
      super(message, cause);
    }
  }

  /**
   * How a connection carrying streams makes sure its node is there: after {@code quiet} of silence it sends a
   * {@code members} request with an id from {@code ids}, and drops the connection when nothing arrives within
   * {@code quiet} more.
   */
  record Liveness(Duration quiet, java.util.function.LongSupplier ids) {}

  private final String address;
  private final Socket socket;
  private final Liveness liveness;
  /** Whether the watchdog thread runs: set by whoever starts it, cleared by it when no stream is left. */
  private final java.util.concurrent.atomic.AtomicBoolean watchdogRuns =
      new java.util.concurrent.atomic.AtomicBoolean();
  /** Counted down when the connection ends, so that the watchdog ends too instead of sleeping on. */
  private final java.util.concurrent.CountDownLatch ended = new java.util.concurrent.CountDownLatch(1);
  private final OutputStream out;
  private final java.util.concurrent.LinkedBlockingQueue<Request> outbox = new java.util.concurrent.LinkedBlockingQueue<>();
  private static final Request CLOSE = Request.getDefaultInstance();
  private final ConcurrentHashMap<Long, CompletableFuture<Response>> pending = new ConcurrentHashMap<>();
  /** Requests answered with many messages (watches): each message goes to its listener until {@link #endStream}. */
  private final ConcurrentHashMap<Long, StreamListener> streams = new ConcurrentHashMap<>();

  /** Gets a stream's messages on the connection's reader thread (so it must not block on this connection). */
  interface StreamListener {
    void message(Response r);

    /** The connection ended: no more messages will come. */
    void lost(IOException cause);
  }
  private volatile IOException failure;
  /** Set when the watchdog ended the connection because its node answered nothing: it is gone or cut off. */
  private volatile boolean wentSilent;
  /** System.nanoTime() when the last message arrived (or the connection opened). */
  private volatile long lastReceived = System.nanoTime();
  /** Counted down when the reader thread ends (it has reported why, if it knew). */
  private final java.util.concurrent.CountDownLatch readerEnded = new java.util.concurrent.CountDownLatch(1);
  /** How long a failed write waits for the reader's reason before reporting its own. */
  private static final long READER_GRACE_MILLIS = 1000;

  private Connection(String address, Socket socket, Liveness liveness) throws IOException {
    this.address = address;
    this.socket = socket;
    this.liveness = liveness;
    this.out = new BufferedOutputStream(socket.getOutputStream(), 64 * 1024);
    var in = new BufferedInputStream(socket.getInputStream(), 64 * 1024);
    Thread.ofVirtual().name("kvraft-client-reader-" + address).start(() -> readLoop(in));
    Thread.ofVirtual().name("kvraft-client-writer-" + address).start(this::writeLoop);
  }

  private void writeLoop() {
    try {
      while (true) {
        var r = outbox.take();
        do {
          if (r == CLOSE) {
            return;
          }
          r.writeDelimitedTo(out);
        } while ((r = outbox.poll()) != null);
        out.flush();
      }
    } catch (IOException e) {
      // The reader usually has the server's reason (a TLS alert such as a missing client certificate, an error
      // frame, the close), which says more than "broken pipe": give it a moment to report it first.
      try {
        readerEnded.await(READER_GRACE_MILLIS, TimeUnit.MILLISECONDS);
      } catch (InterruptedException ie) {
        Thread.currentThread().interrupt();
      }
      fail(new ConnectionLost("lost connection to " + address + " while sending: " + e.getMessage(), e));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /**
   * Connects, and with {@code tls} non-null completes a TLS handshake, each within the connect timeout and by
   * {@code deadline} (System.nanoTime()) whichever comes first, checking that the server's certificate chains to the
   * CA and names the host (or IP) in {@code address}.
   */
  static Connection open(String address, Duration connectTimeout, long deadline, javax.net.ssl.SSLContext tls,
      Liveness liveness) throws IOException {
    var hp = HostPort.parse(address);
    var socket = new Socket();
    try {
      socket.setTcpNoDelay(true);
      socket.connect(new InetSocketAddress(hp.host(), hp.port()), millisWithin(connectTimeout, deadline));
      if (tls == null) {
        return new Connection(address, socket, liveness);
      }
      try {
        return new Connection(address, dev.kvraft.proto.PemTls.handshake(tls, socket, hp.host(), hp.port(),
            millisWithin(connectTimeout, deadline)), liveness);
      } catch (IOException e) {
        throw new IOException("TLS handshake with " + address + " failed: " + e.getMessage(), e);
      }
    } catch (IOException e) {
      socket.close();
      throw e;
    }
  }

  /**
   * A socket timeout of at most {@code limit} and what is left until {@code deadline}, at least 1 ms (0 would mean
   * no timeout at all).
   */
  static int millisWithin(Duration limit, long deadline) {
    long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
    return (int) Math.max(1, Math.min(Math.min(limit.toMillis(), left), Integer.MAX_VALUE));
  }

  String address() {
    return address;
  }

  boolean isOpen() {
    return failure == null;
  }

  /** Sends a request (its id must be unique on this connection) and returns the future of its response. */
  CompletableFuture<Response> send(Request request) {
    var f = new CompletableFuture<Response>();
    var failed = failure;
    if (failed != null) {
      f.completeExceptionally(failed);
      return f;
    }
    pending.put(request.getId(), f);
    outbox.add(request);
    if (failure != null) {
      // Lost meanwhile: make sure this one fails too.
      var mine = pending.remove(request.getId());
      if (mine != null) {
        mine.completeExceptionally(failure);
      }
    }
    return f;
  }

  /** Sends a request whose answers are a stream; {@code listener} gets each of them until {@link #endStream}. */
  void stream(Request request, StreamListener listener) {
    var failed = failure;
    if (failed != null) {
      listener.lost(failed);
      return;
    }
    streams.put(request.getId(), listener);
    outbox.add(request);
    if (failure != null && streams.remove(request.getId()) != null) {
      listener.lost(failure);
      return;
    }
    if (watchdogRuns.compareAndSet(false, true)) {
      Thread.ofVirtual().name("kvraft-client-watchdog-" + address).start(this::watchdog);
    }
  }

  /**
   * Runs while streams are open: after {@link Liveness#quiet} without a message, asks the node for its members and
   * ends the connection when nothing at all arrives within that long again (any message proves the node is there).
   */
  private void watchdog() {
    long quiet = liveness.quiet().toNanos();
    try {
      while (failure == null) {
        if (streams.isEmpty()) {
          watchdogRuns.set(false);
          // A stream added between the check and the reset saw the flag still set and started no watchdog: this one
          // goes on for it, unless another was started meanwhile.
          if (streams.isEmpty() || !watchdogRuns.compareAndSet(false, true)) {
            return;
          }
          continue;
        }
        long silent = System.nanoTime() - lastReceived;
        if (silent < quiet) {
          if (ended.await(quiet - silent, TimeUnit.NANOSECONDS)) {
            return;
          }
          continue;
        }
        long sent = System.nanoTime();
        var probe = Request.newBuilder().setId(liveness.ids().getAsLong())
            .setMembers(dev.kvraft.proto.Members.getDefaultInstance()).build();
        try {
          send(probe).get(quiet, TimeUnit.NANOSECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
          abandon(probe.getId());
          if (silentSince(sent)) {
            wentSilent = true;
            fail(new ConnectionLost("node " + address + " sent nothing for "
                + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - lastReceived) + " ms while watches were open on"
                + " it, not even an answer to a members request: it is gone or cut off, so the connection was"
                + " dropped (its watches resume on another node)", null));
            return;
          }
        } catch (java.util.concurrent.ExecutionException e) {
          return; // the connection ended: its streams were told
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** Stops handing a stream's messages on (those still arriving are dropped). */
  void endStream(long id) {
    streams.remove(id);
  }

  private void readLoop(InputStream in) {
    try {
      var answers = new dev.kvraft.proto.DelimitedReader<>(in, Response.parser());
      while (true) {
        var r = answers.next();
        lastReceived = System.nanoTime();
        if (r == null) {
          fail(new ConnectionLost("node " + address + " closed the connection", null));
          return;
        }
        var s = streams.get(r.getId());
        if (s != null) {
          s.message(r);
          continue;
        }
        var f = pending.remove(r.getId());
        if (f != null) {
          f.complete(r);
        } else if (r.getId() == 0 && r.hasError()) {
          // The server could not read a request's id (a malformed frame): it closes the connection next.
          fail(new ConnectionLost("node " + address + " rejected a frame: " + r.getError().getMessage(), null));
          return;
        }
      }
    } catch (IOException e) {
      fail(new ConnectionLost("lost connection to " + address + ": " + e.getMessage(), e));
    } finally {
      readerEnded.countDown();
    }
  }

  private void fail(IOException e) {
    if (failure == null) {
      failure = e;
    }
    ended.countDown();
    outbox.clear();
    outbox.add(CLOSE);
    try {
      socket.close();
    } catch (IOException ignored) {
      // closing after a failure: nothing more to do
    }
    for (var id : pending.keySet()) {
      var f = pending.remove(id);
      if (f != null) {
        f.completeExceptionally(failure);
      }
    }
    for (var id : streams.keySet()) {
      var s = streams.remove(id);
      if (s != null) {
        s.lost(failure);
      }
    }
  }

  /**
   * Whether nothing at all arrived since System.nanoTime() {@code since}: a node that answers nothing past the
   * deadline it was given (it promises its verdict within it) is gone or cut off, not slow.
   */
  boolean silentSince(long since) {
    return lastReceived - since < 0;
  }

  /** Whether the watchdog ended this connection because its node answered nothing, not even a members request. */
  boolean wentSilent() {
    return wentSilent;
  }

  /** Forgets a request whose caller gave up waiting. */
  void abandon(long id) {
    pending.remove(id);
  }

  @Override
  public void close() {
    fail(new ConnectionLost("connection to " + address + " closed by the client", null));
  }
}
