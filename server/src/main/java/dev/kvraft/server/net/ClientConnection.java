package dev.kvraft.server.net;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.kvraft.proto.Error;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import dev.kvraft.server.config.ServerConfig;
import dev.kvraft.server.db.CommandSink;
import dev.kvraft.server.db.RequestTrace;
import com.google.protobuf.CodedOutputStream;
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
 * and a 4 KiB buffer). The reader blocks on the socket, validates each request and hands it to the database loop; the
 * loop answers through {@link Outbox#reply}, which only queues, so a slow or dead client never blocks the loop. The
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
  private final Members members;
  /** Where BackupChunk reads from, or null. */
  private final dev.kvraft.server.backup.BackupFiles backups;
  private final ConnectionAuth auth;
  /** Reader thread only: the user this connection runs as ("" until it authenticates), and its failures. */
  private String user = "";
  private int authFailures;
  /**
   * Reader thread only: the password hash {@link #user} authenticated against; null when the user came from the
   * certificate (or none). When the user's hash is no longer this one (its password changed, or it was deleted and
   * perhaps added again), the session ends, as etcd invalidates a user's tokens then.
   */
  private String secret;
  /** Reader thread only: read no more requests (answers owed still go out, then the connection closes). */
  private boolean stopReading;
  /** Reader thread only: the names in the client's certificate (none without TLS or a certificate). */
  private java.util.Set<String> certificateNames = java.util.Set.of();
  /** Reader thread only: whether the other side proved it is a cluster member (may send forwarded and ReadIndex). */
  private boolean member;
  private final String peer;
  private final CommandSink loop;
  private final ServerConfig config;
  private final RequestValidator validator;
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
   * being read and not yet handed on to its answer ({@link #handle}, {@link #protocolError}); the reader gives them
   * back itself when the frame does not become an answered request.
   */
  private final FrameTicket ticket;
  /** Set once, by whoever closes the connection first ({@link #close}); the socket is closed with it. */
  private final AtomicBoolean closed = new AtomicBoolean();
  /** Everything sent to the client: the queued answers and watch messages, and the writer thread. */
  private final Outbox outbox;

  ClientConnection(Socket socket, CommandSink loop, ServerConfig config, RequestValidator validator,
      NetStats stats, ConnectionBudget budget, ClientTls tls, Members members,
      dev.kvraft.server.backup.BackupFiles backups, ConnectionAuth auth) {
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
      certificateNames = ClientTls.peerNames(socket);
      member = members.isMember(certificateNames);
      // Small buffers keep an idle connection cheap (issue #15): a frame body larger than the buffer is read
      // straight into its own array, and a large response is written straight to the socket.
      var limits = budget.limits();
      deadlines = new DeadlineInputStream(socket, socket.getInputStream(),
          (int) Math.min(Integer.MAX_VALUE, limits.idleTimeout().toMillis()));
      var in = new BufferedInputStream(deadlines, IN_BUFFER);
      outbox.attach(socket.getOutputStream());
      readLoop(in);
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

  private void readLoop(BufferedInputStream in) throws IOException, InterruptedException {
    int maxFrame = config.limits().maxFrameBytes();
    var limits = budget.limits();
    while (!closed.get() && !stopReading) {
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
        if (!handleFrame(in, frame, maxFrame)) {
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

  /** Handles one frame read; false when the connection must close after it. */
  private boolean handleFrame(BufferedInputStream in, Frames.Frame frame, int maxFrame)
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
        handle(request);
        return true;
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

  private void handle(Request request) throws InterruptedException {
    var trace = RequestTrace.receivedNow(peer);
    long timeout = config.requestTimeout().toNanos();
    if (request.getTimeoutMs() > 0) {
      timeout = Math.min(timeout, TimeUnit.MILLISECONDS.toNanos(request.getTimeoutMs()));
    }
    long deadline = System.nanoTime() + timeout;
    ticket.slotToAnswer(); // this request's answer frees it
    if (request.hasMemberHello()) {
      memberHello(request, trace);
      return;
    }
    if ((request.getForwarded() || request.hasReadIndex()) && !member) {
      // Before this node has the member token (a cluster's first moments) nobody can be told apart: retry.
      var ready = members.ready();
      answer(request, Response.newBuilder().setId(request.getId()).setError(Error.newBuilder()
          .setCode(ready ? Error.Code.PERMISSION_DENIED : Error.Code.UNAVAILABLE)
          .setMessage(ready ? "node " + config.nodeId() + " accepts " + (request.hasReadIndex() ? "ReadIndex"
              : "forwarded") + " requests only from cluster members (" + members.describe()
              + "); send the request without 'forwarded'"
              : "node " + config.nodeId() + " has not applied the cluster's member token yet; retry"))
          .build(), trace);
      return;
    }
    var invalid = validator.validate(request);
    if (invalid.isPresent()) {
      answer(request, Response.newBuilder().setId(request.getId()).setError(invalid.get()).build(), trace);
      return;
    }
    if (request.hasBackupChunk()) {
      backupChunk(request, trace);
      return;
    }
    if (request.hasAuthenticate()) {
      authenticate(request, trace);
      return;
    }
    if (!member) {
      // A client's request runs as the connection's user, whatever the client wrote there; a member's carries the
      // user its follower authenticated.
      var runsAs = connectionUser();
      if (!request.getUser().equals(runsAs)) {
        request = request.toBuilder().setUser(runsAs).build();
      }
      if (request.hasAuthChange()) {
        try {
          request = auth.hashPassword(request, raw.getInetAddress());
        } catch (ConnectionAuth.Refused e) {
          answer(request, Response.newBuilder().setId(request.getId()).setError(Error.newBuilder()
              .setCode(e.code).setMessage(e.getMessage())).build(), trace);
          return;
        }
      }
    }
    if (loop.submit(request, outbox.call(ticket.held()), deadline, trace)) {
      ticket.handOn(); // the loop's now: the answer gives the bytes back
    } else {
      answer(request, Response.newBuilder().setId(request.getId()).setError(Error.newBuilder()
          .setCode(Error.Code.OVERLOADED)
          .setMessage("node " + config.nodeId() + " has " + config.queueCapacity()
              + " requests queued (queue.capacity); back off and retry"))
          .build(), trace);
    }
  }

  /** A member's link opening: on the right token the connection may send forwarded requests and ReadIndex. */
  private void memberHello(Request request, RequestTrace trace) {
    var refused = members.hello(request.getMemberHello());
    var response = Response.newBuilder().setId(request.getId());
    if (refused.isEmpty()) {
      member = true;
    } else {
      LOG.warn("client {}: MemberHello as '{}' refused: {}", peer, request.getMemberHello().getNodeId(),
          refused.get());
      response.setError(Error.newBuilder().setCode(members.ready() ? Error.Code.PERMISSION_DENIED
          : Error.Code.UNAVAILABLE).setMessage(refused.get()));
    }
    answer(request, response.build(), trace);
  }

  /**
   * A piece of a backup, read here on the connection's thread: the database loop never touches the disk for it.
   * At most one chunk (1 MiB) per request is in memory; the outbox bound applies to it like to any answer.
   */
  private void backupChunk(Request request, RequestTrace trace) {
    var response = Response.newBuilder().setId(request.getId());
    var b = request.getBackupChunk();
    var view = auth.view();
    if (backups == null) {
      response.setError(Error.newBuilder().setCode(Error.Code.UNAVAILABLE)
          .setMessage("node " + config.nodeId() + " makes no backups"));
    } else if (view.enabled() && !view.userRoles().getOrDefault(connectionUser(), java.util.List.of())
        .contains(dev.kvraft.server.auth.AuthState.ROOT)) {
      // Backups are root's, like Backup itself (checked by the loop); the id alone is not enough once auth is on.
      response.setError(Error.newBuilder().setCode(connectionUser().isEmpty() ? Error.Code.UNAUTHENTICATED
          : Error.Code.PERMISSION_DENIED).setMessage("reading a backup needs the root role"));
    } else {
      try {
        var chunk = backups.chunk(b.getBackupId(), b.getOffset());
        response.setBackupChunk(dev.kvraft.proto.BackupChunkResult.newBuilder()
            .setData(com.google.protobuf.UnsafeByteOperations.unsafeWrap(chunk.data())).setLast(chunk.last()));
      } catch (dev.kvraft.server.backup.BackupFiles.Missing e) {
        response.setError(Error.newBuilder().setCode(Error.Code.INVALID_ARGUMENT).setMessage(e.getMessage()));
      } catch (IOException e) {
        LOG.error("client {}: reading backup {} failed: {}", peer, b.getBackupId(), e.toString());
        response.setError(Error.newBuilder().setCode(Error.Code.INTERNAL)
            .setMessage("node " + config.nodeId() + " could not read the backup: " + e.getMessage()));
      }
    }
    answer(request, response.build(), trace);
  }

  /** The user this connection runs as: its own, or the one its certificate names. Reader thread. */
  private String connectionUser() {
    if (secret != null && !secret.equals(auth.view().secrets().get(user))) {
      LOG.info("client {}: user '{}' was deleted or its password changed since this connection authenticated as it;"
          + " its requests run without a user until it authenticates again", peer, user);
      user = "";
      secret = null;
    }
    if (user.isEmpty() && !certificateNames.isEmpty()) {
      user = auth.fromCertificate(certificateNames).orElse("");
    }
    return user;
  }

  /** Authenticate, checked here on the connection's thread (a slow hash on purpose, never on the loop). */
  private void authenticate(Request request, RequestTrace trace) throws InterruptedException {
    var outcome = auth.authenticate(request, raw.getInetAddress());
    outcome.user().ifPresent(u -> {
      user = u;
      secret = outcome.secret();
    });
    answer(request, outcome.response(), trace);
    if (outcome.user().isEmpty() && ++authFailures >= ConnectionAuth.FAILURES_PER_CONNECTION) {
      LOG.warn("client {}: {} failed authentications on one connection; closing it", peer, authFailures);
      stopReading = true;
    }
  }

  /** Answers a request here, without the database loop: counted like the loop's answers. */
  private void answer(Request request, Response response, RequestTrace trace) {
    loop.requestObserver().answered(request, response, trace);
    outbox.reply(response, ticket.handOn());
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
