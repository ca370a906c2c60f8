package dev.kvraft.server.net;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.kvraft.proto.Error;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import com.google.protobuf.CodedOutputStream;
import dev.kvraft.server.backup.BackupFiles;
import dev.kvraft.server.config.ServerConfig;
import dev.kvraft.server.db.CommandSink;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One client connection, served by two virtual threads: the reader ({@link #serve()}, which also owns all cleanup)
 * and the writer (the {@link Outbox}'s), started with the first answer (so an idle connection costs one parked thread
 * and a 4 KiB buffer). The reader blocks on the socket and hands each request to its {@link RequestHandler}, which
 * validates it and hands it to the database loop (or answers it on the reader's thread); the loop answers through {@link Outbox#reply}, which only queues, so a slow or dead client never blocks the loop. The
 * writer sends responses in the order they complete.
 *
 * <p>Bounds (issue #15): at most {@link #MAX_IN_FLIGHT} requests unanswered (the reader takes a slot for each frame
 * before anything else, and closes the connection when none frees within {@code client.write.timeout.ms}: its answers
 * stay unwritten, the client reads none), and at most {@code limit.inflight.bytes}
 * of them by frame length ({@code limit.inflight.total.bytes} over all connections; one larger request goes when
 * none is held): the reader takes room for a frame before it reads its body and waits while there is none
 * ({@link Outbox#awaitRequestRoom}; no deadline, the requests are the server's to answer), and the answer gives it
 * back when it is queued. Answers the client has not read are bounded in bytes ({@code limit.outbox.bytes} here,
 * {@code limit.outbox.total.bytes} over all connections through the {@link ConnectionBudget}): over it the reader
 * stops reading ({@link Outbox#awaitBelowBound}), and TCP pushes back on the client; past twice it, or over it for
 * {@code client.write.timeout.ms}, the connection is closed. A frame must arrive whole within
 * {@code client.frame.timeout.ms} of its first byte (or of the end of the wait for room) and fit in
 * {@code limit.partial.frames.bytes} with the others being received ({@link DeadlineInputStream}); an idle connection
 * is closed after {@code client.idle.timeout.ms}. A frame that is oversize or does not parse gets an error (with the
 * request id when it can be read) and the connection is closed after it.
 *
 * <p>Who owns what: fields marked "reader thread only" are the reader's; {@link #socket} is written by the reader (the
 * TLS handshake) and read by {@link #finish} on the listener's thread; {@link #closed} is set by whoever closes first
 * (the listener at stop, the reader's cleanup, a watch giving up on its client); the reader takes {@link #inFlight}
 * slots, the outbox frees them; the reader takes room for each request's bytes and hands it on with the request to
 * its answer, which gives it back when the outbox queues it (both through the {@link #ticket}, the reader's). All output is the {@link Outbox}'s but
 * the one line answering a TLS ClientHello on the plaintext port ({@link #looksLikeTls}), which the reader writes
 * before any answer and then closes.
 */
final class ClientConnection {
  private static final Logger LOG = LoggerFactory.getLogger(ClientConnection.class);
  static final int MAX_IN_FLIGHT = 4096;
  private static final long MAX_DISCARD = 64L << 20;
  static final int IN_BUFFER = 4 * 1024;
  /** The accepted TCP socket; closing it ends everything. */
  private final Socket raw;
  /** What the connection reads and writes: {@link #raw}, or the TLS socket over it once the handshake is done. */
  private volatile Socket socket;
  private final ClientTls tls;
  private final String peer;
  private final CommandSink loop;
  private final ServerConfig config;
  /** For the {@link RequestHandler} the reader makes once the handshake is done. */
  private final RequestValidator validator;
  private final Members members;
  /** Where BackupChunk reads from, or null. */
  private final BackupFiles backups;
  private final ConnectionAuth auth;
  private final NetStats stats;
  private final ConnectionBudget budget;
  /**
   * The socket's input, with the idle and frame deadlines: set once and used by the reader; the listener's sweeper only
   * asks it whether a read overran its frame's deadline ({@link #closeIfFrameOverdue}).
   */
  private volatile DeadlineInputStream deadlines;
  /** Reader thread only: whether the next frame is the connection's first (checked for a TLS ClientHello). */
  private boolean firstFrame = true;
  /** One slot per request read and not yet answered: the reader takes it, the outbox frees it. */
  private final Semaphore inFlight = new Semaphore(MAX_IN_FLIGHT);
  /**
   * Reader thread only: the {@link #inFlight} slot and the room in {@code limit.inflight.bytes} taken for the frame
   * being read and not yet handed on to its answer ({@link RequestHandler}, {@link #protocolError}); the reader gives them
   * back itself when the frame does not become an answered request.
   */
  private final FrameTicket ticket;
  /** Set once, by whoever closes the connection first ({@link #close}); the socket is closed with it. */
  private final AtomicBoolean closed = new AtomicBoolean();
  /** Everything sent to the client: the queued answers and watch messages, and the writer thread. */
  private final Outbox outbox;

  ClientConnection(Socket socket, CommandSink loop, ServerConfig config, RequestValidator validator,
      NetStats stats, ConnectionBudget budget, ClientTls tls, Members members,
      BackupFiles backups, ConnectionAuth auth) {
    this.stats = stats;
    this.backups = backups;
    this.auth = auth;
    this.budget = budget;
    this.raw = socket;
    this.socket = socket;
    this.tls = tls;
    this.members = members;
    this.peer = socket.getRemoteSocketAddress().toString();
    this.loop = loop;
    this.config = config;
    this.validator = validator;
    this.outbox = new Outbox(this, peer, budget, stats, inFlight);
    this.ticket = new FrameTicket(inFlight, outbox);
  }

  /** Reads requests until the client leaves or breaks the protocol; then cleans up everything. */
  void serve() {
    try {
      raw.setTcpNoDelay(true);
      if (tls != null && !handshake()) {
        return;
      }
      var requests = new RequestHandler(peer, raw.getInetAddress(), ClientTls.peerNames(socket), loop, config,
          validator, members, backups, auth, outbox, ticket);
      // Small buffers keep an idle connection cheap (issue #15): a frame body larger than the buffer is read
      // straight into its own array, and a large response is written straight to the socket.
      var limits = budget.limits();
      deadlines = new DeadlineInputStream(socket, socket.getInputStream(),
          (int) Math.min(Integer.MAX_VALUE, limits.idleTimeout().toMillis()));
      var in = new BufferedInputStream(deadlines, IN_BUFFER);
      outbox.attach(socket.getOutputStream());
      readLoop(in, requests);
      // The client finished sending (or broke the protocol): let its in-flight requests finish, then close.
      inFlight.tryAcquire(MAX_IN_FLIGHT, config.requestTimeout().toMillis() + 1000, TimeUnit.MILLISECONDS);
    } catch (IOException e) {
      LOG.debug("connection {} ended: {}", peer, e.toString());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      loop.closed(outbox.stream);
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

  /** Reads frames and hands each request to {@code requests}, until the client leaves, breaks the protocol or must go. */
  private void readLoop(BufferedInputStream in, RequestHandler requests) throws IOException, InterruptedException {
    int maxFrame = config.limits().maxFrameBytes();
    var limits = budget.limits();
    while (!closed.get()) {
      if (!outbox.awaitBelowBound()) {
        return;
      }
      deadlines.betweenFrames();
      in.mark(16);
      try {
        if (in.read() < 0) {
          return;
        }
      } catch (java.net.SocketTimeoutException idle) {
        if (inFlight.availablePermits() < MAX_IN_FLIGHT || outbox.hasWatches()) {
          continue; // answers are still owed, or watches stream: not idle
        }
        LOG.info("client {}: idle for {} ms (client.idle.timeout.ms); closing the connection", peer,
            limits.idleTimeout().toMillis());
        return;
      }
      deadlines.frameStarted(System.nanoTime() + limits.frameTimeout().toNanos());
      in.reset();
      if (firstFrame && tls == null) {
        firstFrame = false;
        if (looksLikeTls(in)) {
          return;
        }
      }
      long reserved = 0;
      try {
        // The frame's answer slot first, and only then its room in limit.inflight.bytes: a client that leaves
        // MAX_IN_FLIGHT answers unread holds no room while it waits here, and waits at most client.write.timeout.ms.
        if (!ticket.takeSlot(limits.writeTimeout().toNanos())) {
          LOG.warn("client {}: {} answers unwritten for {} ms (the client does not read them; client.write.timeout.ms);"
              + " closing the connection", peer, MAX_IN_FLIGHT, limits.writeTimeout().toMillis());
          return;
        }
        deadlines.frameStarted(System.nanoTime() + limits.frameTimeout().toNanos());
        in.mark(16);
        long length = Frames.readLength(in);
        in.reset();
        if (length > 0 && length <= maxFrame) {
          if (!ticket.awaitRoom(length)) {
            return;
          }
          // The wait was the server's: the client's time to send the frame starts now.
          deadlines.frameStarted(System.nanoTime() + limits.frameTimeout().toNanos());
          if (!budget.reserveFrame(length)) {
            protocolError(0, Error.Code.OVERLOADED, "node " + config.nodeId() + " is receiving "
                + budget.partialBytes() + " bytes of request frames from its clients (limit.partial.frames.bytes "
                + limits.partialFramesBytes() + "); closing the connection: retry later");
            return;
          }
          reserved = length;
        }
        var frame = Frames.read(in, maxFrame);
        if (reserved > 0) {
          // Received whole: its room in limit.partial.frames.bytes is for bytes still arriving, not for a request
          // that waits for the loop's queue or a hashing thread.
          budget.releaseFrame(reserved);
          reserved = 0;
        }
        if (!handleFrame(in, frame, maxFrame, requests)) {
          return;
        }
      } catch (DeadlineInputStream.FrameTimeoutException slow) {
        LOG.warn("client {}: a request frame did not arrive whole within {} ms (client.frame.timeout.ms);"
            + " closing the connection", peer, limits.frameTimeout().toMillis());
        return;
      } finally {
        if (reserved > 0) {
          budget.releaseFrame(reserved);
        }
        ticket.giveBack();
      }
    }
  }

  /**
   * A TLS ClientHello on this plaintext port (a record of type 22, handshake, then version byte 3: a kvraft frame of 22
   * bytes cannot start that way, its body would begin with field 0) is answered with one line of text and closed,
   * instead of an INVALID_ARGUMENT frame the TLS client would show as garbage.
   */
  private boolean looksLikeTls(BufferedInputStream in) throws IOException {
    in.mark(2);
    int type = in.read();
    int major = in.read();
    in.reset();
    if (type != 0x16 || major != 0x03) {
      return false;
    }
    LOG.warn("client {}: sent a TLS handshake to the plaintext client port; closing (this node has no TLS on its"
        + " client port)", peer);
    var out = socket.getOutputStream();
    out.write(("kvraft: " + config.self().clientAddress() + " speaks plaintext kvraft protocol, not TLS;"
        + " connect without TLS\n").getBytes(java.nio.charset.StandardCharsets.US_ASCII));
    out.flush();
    socket.shutdownOutput();
    return true;
  }

  /** Handles one frame read; false when the connection must read no more after it. */
  private boolean handleFrame(BufferedInputStream in, Frames.Frame frame, int maxFrame, RequestHandler requests)
      throws IOException, InterruptedException {
    switch (frame) {
      case Frames.End end -> {
        return false;
      }
      case Frames.BadLength bad -> {
        protocolError(0, Error.Code.INVALID_ARGUMENT, "the frame length prefix is not a valid varint");
        return false;
      }
      case Frames.Oversize o -> {
        protocolError(Frames.leadingId(o.prefix()), Error.Code.TOO_LARGE, "frame of " + o.length()
            + " bytes is over the limit of " + maxFrame + " bytes (limit.frame.bytes); closing the connection");
        discard(in, o.length() - o.prefix().length);
        return false;
      }
      case Frames.Body body -> {
        stats.read(body.bytes().length + CodedOutputStream.computeUInt32SizeNoTag(body.bytes().length));
        Request request;
        try {
          request = Request.parseFrom(body.bytes());
        } catch (InvalidProtocolBufferException e) {
          protocolError(Frames.leadingId(body.bytes()), Error.Code.INVALID_ARGUMENT,
              "frame of " + body.bytes().length + " bytes is not a kvraft Request (" + e.getMessage()
                  + "); closing the connection");
          return false;
        }
        return requests.handle(request);
      }
    }
  }

  /**
   * Reads and drops what is left of an oversize frame (at most {@link #MAX_DISCARD} bytes, for at most two seconds),
   * so a client that writes its whole frame before reading still gets to read the error.
   */
  private void discard(InputStream in, long remaining) {
    try {
      deadlines.frameStarted(System.nanoTime() + TimeUnit.SECONDS.toNanos(2));
      long left = Math.min(remaining, MAX_DISCARD);
      while (left > 0) {
        long skipped = in.skip(left);
        if (skipped <= 0) {
          if (in.read() < 0) {
            return;
          }
          skipped = 1;
        }
        left -= skipped;
      }
    } catch (IOException e) {
      LOG.debug("client {}: stopped discarding an oversize frame: {}", peer, e.toString());
    }
  }

  private void protocolError(long id, Error.Code code, String message) throws InterruptedException {
    LOG.warn("client {}: {}", peer, message);
    ticket.slotToAnswer(); // this answer frees it
    outbox.reply(Response.newBuilder().setId(id).setError(Error.newBuilder().setCode(code).setMessage(message))
        .build());
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
