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
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One client connection, served by two virtual threads: the reader ({@link #serve()}, which also owns all cleanup)
 * and the writer it starts. The reader blocks on the socket, validates each request and hands it to the database
 * loop; the loop answers through {@link #reply}, which only queues, so a slow or dead client never blocks the loop.
 * The writer sends responses in the order they complete.
 *
 * <p>At most {@link #MAX_IN_FLIGHT} requests per connection are unanswered at a time; past that the reader stops
 * reading, and TCP pushes back on the client. A frame that is oversize or does not parse gets an error (with the
 * request id when it can be read) and the connection is closed after it.
 */
final class ClientConnection {
  private static final Logger LOG = LoggerFactory.getLogger(ClientConnection.class);
  static final int MAX_IN_FLIGHT = 4096;
  private static final long MAX_DISCARD = 64L << 20;
  static final int IN_BUFFER = 4 * 1024;
  static final int OUT_BUFFER = 8 * 1024;
  private static final Response CLOSE = Response.newBuilder().build();

  private final Socket socket;
  private final String peer;
  private final CommandSink loop;
  private final ServerConfig config;
  private final RequestValidator validator;
  private final NetStats stats;
  private final LinkedBlockingQueue<Response> outbox = new LinkedBlockingQueue<>();
  private final Semaphore inFlight = new Semaphore(MAX_IN_FLIGHT);
  private final AtomicBoolean closed = new AtomicBoolean();
  private volatile boolean broken;

  ClientConnection(Socket socket, CommandSink loop, ServerConfig config, RequestValidator validator,
      NetStats stats) {
    this.stats = stats;
    this.socket = socket;
    this.peer = socket.getRemoteSocketAddress().toString();
    this.loop = loop;
    this.config = config;
    this.validator = validator;
  }

  /** Reads requests until the client leaves or breaks the protocol; then cleans up everything. */
  void serve() {
    Thread writer = null;
    try {
      socket.setTcpNoDelay(true);
      // Small buffers keep an idle connection cheap (issue #15): a frame body larger than the buffer is read
      // straight into its own array, and a large response is written straight to the socket.
      var in = new BufferedInputStream(socket.getInputStream(), IN_BUFFER);
      var out = new BufferedOutputStream(socket.getOutputStream(), OUT_BUFFER);
      writer = Thread.ofVirtual().name("kvraft-conn-writer-" + peer).start(() -> writeLoop(out));
      readLoop(in);
      // The client finished sending (or broke the protocol): let its in-flight requests finish, then close.
      inFlight.tryAcquire(MAX_IN_FLIGHT, config.requestTimeout().toMillis() + 1000, TimeUnit.MILLISECONDS);
    } catch (IOException e) {
      LOG.debug("connection {} ended: {}", peer, e.toString());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      outbox.add(CLOSE);
      if (writer != null) {
        try {
          writer.join(TimeUnit.SECONDS.toMillis(2));
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
      close();
    }
  }

  private void readLoop(BufferedInputStream in) throws IOException, InterruptedException {
    int maxFrame = config.limits().maxFrameBytes();
    while (!closed.get()) {
      var frame = Frames.read(in, maxFrame);
      switch (frame) {
        case Frames.End end -> {
          return;
        }
        case Frames.BadLength bad -> {
          protocolError(0, Error.Code.INVALID_ARGUMENT, "the frame length prefix is not a valid varint");
          return;
        }
        case Frames.Oversize o -> {
          protocolError(Frames.leadingId(o.prefix()), Error.Code.TOO_LARGE, "frame of " + o.length()
              + " bytes is over the limit of " + maxFrame + " bytes (limit.frame.bytes); closing the connection");
          discard(in, o.length() - o.prefix().length);
          return;
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
            return;
          }
          handle(request);
        }
      }
    }
  }

  /**
   * Reads and drops what is left of an oversize frame (at most {@link #MAX_DISCARD} bytes, for at most two seconds),
   * so a client that writes its whole frame before reading still gets to read the error.
   */
  private void discard(InputStream in, long remaining) {
    try {
      socket.setSoTimeout(2000);
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
    inFlight.acquire();
    var invalid = validator.validate(request);
    if (invalid.isPresent()) {
      answer(request, Response.newBuilder().setId(request.getId()).setError(invalid.get()).build(), trace);
      return;
    }
    if (!loop.submit(request, this::reply, deadline, trace)) {
      answer(request, Response.newBuilder().setId(request.getId()).setError(Error.newBuilder()
          .setCode(Error.Code.OVERLOADED)
          .setMessage("node " + config.nodeId() + " has " + config.queueCapacity()
              + " requests queued (queue.capacity); back off and retry"))
          .build(), trace);
    }
  }

  /** Answers a request here, without the database loop: counted like the loop's answers. */
  private void answer(Request request, Response response, RequestTrace trace) {
    loop.requestObserver().answered(request, response, trace);
    reply(response);
  }

  private void protocolError(long id, Error.Code code, String message) throws InterruptedException {
    LOG.warn("client {}: {}", peer, message);
    inFlight.acquire();
    reply(Response.newBuilder().setId(id).setError(Error.newBuilder().setCode(code).setMessage(message)).build());
  }

  /** Queues a response; called by the database loop and the reader. Never blocks. */
  void reply(Response response) {
    if (broken) {
      inFlight.release();
      return;
    }
    outbox.add(response);
  }

  private void writeLoop(OutputStream out) {
    try {
      while (true) {
        var r = outbox.take();
        do {
          if (r == CLOSE) {
            out.flush();
            return;
          }
          r.writeDelimitedTo(out);
          int size = r.getSerializedSize();
          stats.wrote(size + CodedOutputStream.computeUInt32SizeNoTag(size));
          inFlight.release();
        } while ((r = outbox.poll()) != null);
        out.flush();
      }
    } catch (IOException e) {
      LOG.debug("connection {}: cannot write ({}); dropping its responses", peer, e.toString());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      broken = true;
      for (Response r; (r = outbox.poll()) != null; ) {
        if (r != CLOSE) {
          inFlight.release();
        }
      }
      closeSocket();
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

  /** Closes the connection now; the reader's finally block does the rest. */
  void close() {
    if (closed.compareAndSet(false, true)) {
      closeSocket();
    }
  }

  private void closeSocket() {
    try {
      socket.close();
    } catch (IOException e) {
      LOG.debug("closing {}: {}", peer, e.toString());
    }
  }
}
