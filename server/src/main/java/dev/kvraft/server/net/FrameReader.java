package dev.kvraft.server.net;

import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.kvraft.proto.Error;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import dev.kvraft.server.config.ServerConfig;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.net.Socket;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The reading side of one {@link ClientConnection}: reads its request frames one after another ({@link Frames}) and
 * hands each parsed request to the connection's {@link RequestHandler}, holding the client to the bounds on what it
 * may send (issue #15):
 * <ul>
 *   <li>at most {@link ClientConnection#MAX_IN_FLIGHT} requests unanswered: the reader takes an answer slot for each
 *       frame before anything else, and closes the connection when none frees within {@code client.write.timeout.ms}
 *       (its answers stay unwritten, the client reads none);
 *   <li>at most {@code limit.inflight.bytes} of them by frame length ({@code limit.inflight.total.bytes} over all
 *       connections; one larger request goes when none is held): the reader takes room for a frame before it reads
 *       its body and waits while there is none ({@link Outbox#awaitRequestRoom}; no deadline, the requests are the
 *       server's to answer; readers get room in the order they came), and the answer gives it back when it is
 *       queued. Slot and room are the frame's {@link Ticket};
 *   <li>answers the client has not read: over {@code limit.outbox.bytes} (or the node-wide bound) the reader stops
 *       reading ({@link Outbox#awaitBelowBound}), and TCP pushes back on the client;
 *   <li>a frame must arrive whole within {@code client.frame.timeout.ms} of its first byte (or of the end of the wait
 *       for room, which is the server's) and fit in {@code limit.partial.frames.bytes} with the others being
 *       received ({@link DeadlineInputStream}, {@link ConnectionBudget#reserveFrame}), counted by its buffer as it
 *       grows with what has arrived ({@link Frames#read}: 4 KiB, then doubling), not by the length it announced
 *       ({@code limit.partial.frames.bytes} is at least {@code limit.frame.bytes}); an idle connection is closed
 *       after {@code client.idle.timeout.ms}, unless answers are owed or watches stream;
 *   <li>a frame that is oversize or does not parse gets an error (with the request id when it can be read) and the
 *       connection reads no more; the rest of an oversize frame is dropped first ({@link #discard}).
 * </ul>
 *
 * <p>Who owns what: one per connection, made by its reader thread ({@code kvraft-conn-N}) once the streams are set up,
 * and used only by that thread; {@link #firstFrame} and the {@link #ticket} are its. Not its own: the input streams
 * (the connection's; the listener's sweeper only asks {@link #deadlines} whether a read overran), the {@link #outbox}
 * (which any thread queues to; the reader writes its own protocol errors there) and the socket, whose output the reader
 * touches once, for the one line answering a TLS ClientHello on the plaintext port ({@link #looksLikeTls}), before
 * any answer.
 */
final class FrameReader {
  /** The connection's logger: these lines are the connection's, as they were before this was its own class. */
  private static final Logger LOG = LoggerFactory.getLogger(ClientConnection.class);
  private static final long MAX_DISCARD = 64L << 20;
  /** The read buffer: small, so an idle connection is cheap; a larger frame body is read straight into its array. */
  static final int IN_BUFFER = 4 * 1024;
  private final ClientConnection connection;
  private final String peer;
  /** The socket the connection reads (TLS or not): written to only by {@link #looksLikeTls}. */
  private final Socket socket;
  /** Whether the port is plaintext: then the first frame is checked for a TLS ClientHello. */
  private final boolean plaintext;
  /** The socket's input with the idle and frame deadlines, and the buffer over it that the frames are read from. */
  private final DeadlineInputStream deadlines;
  private final BufferedInputStream in;
  private final ServerConfig config;
  private final ConnectionBudget budget;
  private final NetStats stats;
  private final Outbox outbox;
  private final Ticket ticket;
  private final RequestHandler requests;
  /** Whether the next frame is the connection's first (checked for a TLS ClientHello). */
  private boolean firstFrame = true;
  /** The room in {@code limit.partial.frames.bytes} the frame being read holds: what its body's buffer has grown to. */
  private long partialHeld;

  FrameReader(ClientConnection connection, String peer, Socket socket, boolean plaintext,
      DeadlineInputStream deadlines, ServerConfig config, ConnectionBudget budget, NetStats stats, Outbox outbox,
      Ticket ticket, RequestHandler requests) {
    this.connection = connection;
    this.peer = peer;
    this.socket = socket;
    this.plaintext = plaintext;
    this.deadlines = deadlines;
    this.in = new BufferedInputStream(deadlines, IN_BUFFER);
    this.config = config;
    this.budget = budget;
    this.stats = stats;
    this.outbox = outbox;
    this.ticket = ticket;
    this.requests = requests;
  }

  /**
   * Reads frames and hands each request to the {@link RequestHandler}, until the client leaves, breaks the protocol or
   * must go, or the connection is closed. Returns normally when it stops on its own; the caller cleans up.
   */
  void run() throws IOException, InterruptedException {
    int maxFrame = config.limits().maxFrameBytes();
    var limits = budget.limits();
    while (!connection.isClosed()) {
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
        if (ticket.answersOwed() || outbox.hasWatches()) {
          continue; // answers are still owed, or watches stream: not idle
        }
        LOG.info("client {}: idle for {} ms (client.idle.timeout.ms); closing the connection", peer,
            limits.idleTimeout().toMillis());
        return;
      }
      deadlines.frameStarted(System.nanoTime() + limits.frameTimeout().toNanos());
      in.reset();
      if (firstFrame && plaintext) {
        firstFrame = false;
        if (looksLikeTls()) {
          return;
        }
      }
      partialHeld = 0;
      try {
        // The frame's answer slot first, and only then its room in limit.inflight.bytes: a client that leaves
        // MAX_IN_FLIGHT answers unread holds no room while it waits here, and waits at most client.write.timeout.ms.
        if (!ticket.takeSlot(limits.writeTimeout().toNanos())) {
          LOG.warn("client {}: {} answers unwritten for {} ms (the client does not read them; client.write.timeout.ms);"
              + " closing the connection", peer, ClientConnection.MAX_IN_FLIGHT, limits.writeTimeout().toMillis());
          return;
        }
        deadlines.frameStarted(System.nanoTime() + limits.frameTimeout().toNanos());
        in.mark(16);
        long length = Frames.readLength(in);
        in.reset();
        if (length > 0 && length <= maxFrame) {
          // Room among the requests in flight, for the length the frame announces, before any of its body is read:
          // while there is none the reader reads nothing (TCP pushes back), holding nothing else; readers get room
          // in the order they came, so one that announces large frames and never sends them delays the others at
          // most by its frame deadline, and never refuses them.
          if (!ticket.awaitRoom(length)) {
            return;
          }
          // The wait was the server's: the client's time to send the frame starts now.
          deadlines.frameStarted(System.nanoTime() + limits.frameTimeout().toNanos());
        }
        var frame = Frames.read(in, maxFrame, this::takePartial);
        budget.releaseFrame(partialHeld);
        partialHeld = 0;
        if (frame instanceof Frames.NoRoom refused) {
          refusePartial(refused.length() - refused.received(), refused.prefix());
          return;
        }
        if (!handleFrame(frame, maxFrame)) {
          return;
        }
      } catch (DeadlineInputStream.FrameTimeoutException slow) {
        LOG.warn("client {}: a request frame did not arrive whole within {} ms (client.frame.timeout.ms);"
            + " closing the connection", peer, limits.frameTimeout().toMillis());
        return;
      } finally {
        budget.releaseFrame(partialHeld);
        partialHeld = 0;
        ticket.giveBack();
      }
    }
  }

  /**
   * Answers OVERLOADED for a frame {@code limit.partial.frames.bytes} has no room for (with its request id, when
   * {@code prefix} holds it), and drops the {@code left} bytes of it still coming so that the client reads the answer
   * (as for an oversize frame) before the connection closes.
   */
  private void refusePartial(long left, byte[] prefix) throws InterruptedException {
    protocolError(Frames.leadingId(prefix), Error.Code.OVERLOADED, "node " + config.nodeId() + " is receiving "
        + budget.partialBytes() + " bytes of request frames from its clients (limit.partial.frames.bytes "
        + budget.limits().partialFramesBytes() + "); closing the connection: retry later");
    ticket.giveBack(); // its room among the requests in flight goes to the readers waiting, not held while it drops
    discard(left);
  }

  /** {@link Frames.Room} for the frame being read: {@code bytes} more of {@code limit.partial.frames.bytes}. */
  private boolean takePartial(int bytes) {
    if (!budget.reserveFrame(bytes, partialHeld)) {
      return false;
    }
    partialHeld += bytes;
    return true;
  }

  /**
   * A TLS ClientHello on this plaintext port (a record of type 22, handshake, then version byte 3: a kvraft frame of 22
   * bytes cannot start that way, its body would begin with field 0) is answered with one line of text and closed,
   * instead of an INVALID_ARGUMENT frame the TLS client would show as garbage.
   */
  private boolean looksLikeTls() throws IOException {
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
  private boolean handleFrame(Frames.Frame frame, int maxFrame)
      throws IOException, InterruptedException {
    switch (frame) {
      case Frames.End end -> {
        return false;
      }
      case Frames.NoRoom refused -> {
        return false; // answered by the caller
      }
      case Frames.BadLength bad -> {
        protocolError(0, Error.Code.INVALID_ARGUMENT, "the frame length prefix is not a valid varint");
        return false;
      }
      case Frames.Oversize o -> {
        protocolError(Frames.leadingId(o.prefix()), Error.Code.TOO_LARGE, "frame of " + o.length()
            + " bytes is over the limit of " + maxFrame + " bytes (limit.frame.bytes); closing the connection");
        discard(o.length() - o.prefix().length);
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
  private void discard(long remaining) {
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

  /**
   * What the request frame being read holds and has not handed on yet: one of the connection's
   * {@link ClientConnection#MAX_IN_FLIGHT} answer slots, and the frame's room in {@code limit.inflight.bytes} (and
   * {@code limit.inflight.total.bytes}). The reader takes both before it reads the frame's body; the
   * {@link RequestHandler} (or the reader, for a protocol error) hands them on to the request's answer: the slot once
   * it knows the request is answered, the bytes with the answer or with the command it gives the database loop.
   * Whatever is left when the frame is done goes back ({@link #giveBack}): the frame did not become a request handed
   * on.
   *
   * <p>Who owns what: one per connection, reused for every frame; its two fields are the connection's reader thread's
   * ({@code kvraft-conn-N}) only, as are all its methods. Not its own: the {@link #inFlight} semaphore (the
   * connection's: the reader takes slots, the {@link Outbox} frees them once their answers are written or dropped) and
   * the byte counts (the {@link Outbox}'s, which any thread that queues an answer gives back).
   */
  static final class Ticket {
    /** The connection's: one slot per request read and not yet answered. */
    private final Semaphore inFlight;
    private final Outbox outbox;
    /** A slot is taken for the frame being read and not yet given to its answer. */
    private boolean slot;
    /** The bytes of {@code limit.inflight.bytes} taken for the frame being read and not yet handed on. */
    private long held;

    Ticket(Semaphore inFlight, Outbox outbox) {
      this.inFlight = inFlight;
      this.outbox = outbox;
    }

    /** Whether a request this connection read is not answered yet (its slot is not free). */
    boolean answersOwed() {
      return inFlight.availablePermits() < ClientConnection.MAX_IN_FLIGHT;
    }

    /** Takes the frame's answer slot, waiting at most {@code timeoutNanos}; false when none freed in time. */
    boolean takeSlot(long timeoutNanos) throws InterruptedException {
      if (!inFlight.tryAcquire(timeoutNanos, TimeUnit.NANOSECONDS)) {
        return false;
      }
      slot = true;
      return true;
    }

    /**
     * Waits for room for a frame of {@code length} bytes ({@link Outbox#awaitRequestRoom}, no deadline) and holds it;
     * false, nothing held, when the connection broke or closed first.
     */
    boolean awaitRoom(long length) throws InterruptedException {
      if (!outbox.awaitRequestRoom(length)) {
        return false;
      }
      held = length;
      return true;
    }

    /** The frame's answer is on its way: writing it (or dropping it) frees the slot, the reader no longer does. */
    void slotToAnswer() {
      slot = false;
    }

    /** The bytes held, still held: for a command the database loop may refuse ({@link #handOn} once it took it). */
    long held() {
      return held;
    }

    /** The frame's room in {@code limit.inflight.bytes}, for whoever gives it back now; none is held after. */
    long handOn() {
      long bytes = held;
      held = 0;
      return bytes;
    }

    /** The frame is done: gives back the room and the slot it did not hand on. */
    void giveBack() {
      outbox.requestDone(handOn()); // the frame did not become a request that was handed on
      if (slot) {
        slot = false;
        inFlight.release(); // nor an answer
      }
    }
  }
}
