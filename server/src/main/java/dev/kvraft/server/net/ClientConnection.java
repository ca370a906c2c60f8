package dev.kvraft.server.net;

import java.io.IOException;
import java.net.Socket;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One client connection, served by two virtual threads: the reader ({@link #serve()}, which also owns all cleanup)
 * and the writer (the {@link Outbox}'s), started with the first answer (so an idle connection costs one parked thread
 * and a 4 KiB buffer). The reader does the TLS handshake, sets up the streams, then reads frames ({@link FrameReader},
 * which holds the client to its bounds) and hands each request to the connection's {@link RequestHandler}, which
 * validates it and answers it or hands it to the database loop. The loop answers through {@link Outbox#reply}, which
 * only queues, so a slow or dead client never blocks the loop; the writer sends responses in the order they complete.
 * Answers the client has not read are bounded in bytes ({@code limit.outbox.bytes} here, {@code
 * limit.outbox.total.bytes} over all connections through the {@link ConnectionBudget}): over it the reader stops
 * reading, and TCP pushes back on the client; past twice it, or over it for {@code client.write.timeout.ms}, the
 * connection is closed. This class is also what others hold of the connection: the listener (to stop it, and its
 * sweeper to close it when its writer or a frame is stuck) and the outbox and the loop's watches (to close it).
 *
 * <p>Who owns what: the reader thread ({@code kvraft-conn-N}) owns the connection's life: it makes the
 * {@link RequestHandler}, the {@link FrameReader} and their {@link FrameReader.Ticket}, all used only on that thread;
 * {@link #socket} is written by the reader (the TLS handshake) and read by {@link #finish} on the listener's thread;
 * {@link #deadlines} is set once by the reader and read by the listener's sweeper; {@link #closed} is set by whoever
 * closes first (the listener at stop, the reader's cleanup, the sweeper, the outbox, a watch giving up on its client);
 * the reader takes {@link #inFlight} slots, the outbox frees them; {@link #services} is the listener's, shared by every
 * connection and immutable. All output is the {@link Outbox}'s but the one line answering a TLS ClientHello on the
 * plaintext port, which the reader writes before any answer and then closes.
 */
final class ClientConnection {
  private static final Logger LOG = LoggerFactory.getLogger(ClientConnection.class);
  static final int MAX_IN_FLIGHT = 4096;
  /** The accepted TCP socket; closing it ends everything. */
  private final Socket raw;
  /** What the connection reads and writes: {@link #raw}, or the TLS socket over it once the handshake is done. */
  private volatile Socket socket;
  private final ClientTls tls;
  private final String peer;
  /** The node's services: the loop and the settings for this class, all of it for its {@link RequestHandler}. */
  private final ConnectionServices services;
  private final NetStats stats;
  private final ConnectionBudget budget;
  /**
   * The socket's input, with the idle and frame deadlines: set once and used by the reader; the listener's sweeper only
   * asks it whether a read overran its frame's deadline ({@link #closeIfFrameOverdue}).
   */
  private volatile DeadlineInputStream deadlines;
  /** One slot per request read and not yet answered: the reader takes it, the outbox frees it. */
  private final Semaphore inFlight = new Semaphore(MAX_IN_FLIGHT);
  /** Set once, by whoever closes the connection first ({@link #close}); the socket is closed with it. */
  private final AtomicBoolean closed = new AtomicBoolean();
  /** Everything sent to the client: the queued answers and watch messages, and the writer thread. */
  private final Outbox outbox;

  ClientConnection(Socket socket, ConnectionServices services, NetStats stats, ConnectionBudget budget,
      ClientTls tls) {
    this.services = services;
    this.stats = stats;
    this.budget = budget;
    this.raw = socket;
    this.socket = socket;
    this.tls = tls;
    this.peer = socket.getRemoteSocketAddress().toString();
    this.outbox = new Outbox(this, peer, budget, stats, inFlight);
  }

  /** Reads requests until the client leaves or breaks the protocol; then cleans up everything. */
  void serve() {
    try {
      raw.setTcpNoDelay(true);
      if (tls != null && !handshake()) {
        return;
      }
      var ticket = new FrameReader.Ticket(inFlight, outbox);
      var requests = new RequestHandler(peer, raw.getInetAddress(), ClientTls.peerNames(socket), services, outbox,
          ticket);
      // Small buffers keep an idle connection cheap (issue #15): a frame body larger than the buffer is read
      // straight into its own array, and a large response is written straight to the socket.
      var limits = budget.limits();
      deadlines = new DeadlineInputStream(socket, socket.getInputStream(),
          (int) Math.min(Integer.MAX_VALUE, limits.idleTimeout().toMillis()));
      var reader = new FrameReader(this, peer, socket, tls == null, deadlines, services.config(), budget, stats, outbox,
          ticket, requests);
      outbox.attach(socket.getOutputStream());
      reader.run();
      // The client finished sending (or broke the protocol): let its in-flight requests finish, then close.
      inFlight.tryAcquire(MAX_IN_FLIGHT, services.config().requestTimeout().toMillis() + 1000, TimeUnit.MILLISECONDS);
    } catch (IOException e) {
      LOG.debug("connection {} ended: {}", peer, e.toString());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      services.loop().closed(outbox.stream);
      outbox.flushAndEnd();
      close();
    }
  }

  /** The TLS handshake; false (logged, and the finally block closes) when it failed or overran its deadline. */
  private boolean handshake() throws InterruptedException {
    try {
      socket = tls.accept(raw);
      return true;
    } catch (IOException e) {
      LOG.info("client {}: TLS handshake failed ({}); closing the connection", peer, ClientTls.describe(e));
      return false;
    }
  }

  /** Stops reading: requests already read are answered, then the connection closes itself. */
  void finish() {
    try {
      socket.shutdownInput();
    } catch (IOException e) {
      close();
    }
  }

  /**
   * Closes the connection when its writer has been stuck in one socket write for {@code client.write.timeout.ms} (the
   * client reads nothing, whether or not it still sends): called by the listener's sweeper. True when it closed it.
   */
  boolean closeIfWriteStalled(long now) {
    long since = outbox.writeBlockedSince();
    long limit = budget.limits().writeTimeout().toNanos();
    if (since == 0 || now - since < limit || closed.get()) {
      return false;
    }
    LOG.warn("client {}: a write of its answers has not moved for {} ms (the client reads none; "
        + "client.write.timeout.ms); closing the connection", peer, TimeUnit.NANOSECONDS.toMillis(now - since));
    close();
    return true;
  }

  /** How far past its frame's deadline a read may go before the sweeper closes it: the socket timeout's own jitter. */
  private static final long FRAME_GRACE_NANOS = TimeUnit.MILLISECONDS.toNanos(250);

  /**
   * Closes the connection when a read inside a request frame is still in progress past the frame's deadline
   * ({@code client.frame.timeout.ms}): the socket's read timeout cannot end it when the bytes trickle in inside one TLS
   * record. Called by the listener's sweeper. True when it closed it.
   */
  boolean closeIfFrameOverdue(long now) {
    var d = deadlines;
    if (d == null || closed.get() || !d.overran(now, FRAME_GRACE_NANOS)) {
      return false;
    }
    LOG.warn("client {}: a request frame did not arrive whole within {} ms (client.frame.timeout.ms; its bytes kept"
        + " trickling in); closing the connection", peer, budget.limits().frameTimeout().toMillis());
    close();
    return true;
  }

  /** Closes the connection now; the reader's finally block does the rest. */
  void close() {
    if (closed.compareAndSet(false, true)) {
      closeSocket();
    }
  }

  /** Whether {@link #close} was called: the connection reads no more, and watches get no more messages. */
  boolean isClosed() {
    return closed.get();
  }

  /** Closes the socket, without marking the connection closed: the outbox's, when it can write no more. */
  void closeSocket() {
    try {
      raw.close();
    } catch (IOException e) {
      LOG.debug("closing {}: {}", peer, e.toString());
    }
    outbox.wakeReader(); // a reader waiting for room reads nothing from the socket: it would not see the close
  }
}
