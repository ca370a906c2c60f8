package dev.kvraft.server.net;

import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import dev.kvraft.server.db.Forwarder;
import dev.kvraft.server.db.Forwarder.Forward;
import dev.kvraft.server.db.MemberToken;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A follower's link to one leader address, one of the {@link LeaderLink}'s: a bounded queue of batches, a writer
 * virtual thread ({@code kvraft-leader-link-ADDRESS}) that connects when needed (reconnecting after a failure) and
 * writes each batch with one flush, and, per connection, a reader virtual thread
 * ({@code kvraft-leader-link-reader-ADDRESS}) that hands every answer to the {@link Forwarder.Sink}. The leader
 * accepts forwarded requests and ReadIndex only from members: with TLS on the connection presents this node's
 * certificate; with TLS off it opens with a {@code MemberHello} carrying the cluster's member token (and is not opened
 * at all until this node has applied the token: the batch fails as not sent, and the loop retries it).
 *
 * <p>A slow leader must not make a follower hold forwards without bound, nor apply one its client was already told
 * had timed out: the queue is bounded ({@link Settings#maxQueuedBytes}, {@link Settings#maxQueuedRequests}; past them
 * {@link #enqueue} refuses the batch and the loop answers OVERLOADED), and the writer sets each request's
 * {@code timeout_ms} to what is left of its deadline when it writes it, dropping (and reporting not sent) one whose
 * deadline has come.
 *
 * <p>When a connection breaks, every request written to it and not answered is reported failed exactly once, and
 * "not sent" only when none of its bytes was handed to the socket: the socket's stream counts the bytes handed to it
 * (each write counted before it is passed on), every request records where its frame starts, and the connection is
 * closed before that count is read, so no byte counted later can still reach the leader. A request reported as sent
 * may have been applied (the loop answers TIMEOUT); one reported as not sent certainly was not (the loop retries it,
 * maybe on another leader).
 *
 * <p>A writer that has had nothing to write for {@link Settings#idleNanos} drops its link ({@link #dropIfIdle}: it
 * closes the connection and takes the link out of its {@link LeaderLink}'s map) unless its address is the leader's,
 * as the {@link LeaderLink} knows it, or a request on it still waits for an answer within its deadline.
 *
 * <p>Who owns what: the writer thread owns the queue's consumer side and its current {@link LinkConnection}'s
 * output; the reader thread owns the input; the queue's byte and request counts and whether the link was dropped are
 * guarded by this object's lock ({@link #enqueue}, called by {@link LeaderLink#send}, adds; the writer takes). A
 * dropped or closed link refuses batches ({@link Enqueued#DROPPED}), and its writer takes it out of the map when it
 * ends. A connection's table of unanswered requests is its own ({@link LinkConnection}): the writer adds to it, the
 * reader takes answers out of it, and whoever breaks the connection first (writer, reader, or {@link #close}) takes
 * the rest and reports them. The {@link Settings} are immutable and shared by every link of one {@link LeaderLink}.
 */
final class AddressLink {
  /** The leader link's logger: these lines are the link's, as they were before this was its own class. */
  private static final Logger LOG = LoggerFactory.getLogger(LeaderLink.class);
  private static final int CONNECT_TIMEOUT_MS = 1000;
  private static final int BUFFER_BYTES = 64 * 1024;
  /**
   * The id of the MemberHello on every plaintext link. Every other request on a link carries an id of the loop's own
   * ({@code CallIds}: forwards, read-index calls, removal notices), which count up from 1 and never reach it.
   */
  static final long HELLO_ID = -1L;

  /**
   * What every link of one {@link LeaderLink} works with: where answers and failures go, how it proves it is a member
   * (TLS towards the leader with this node's certificate, or null for plaintext and a MemberHello with this node's id
   * and the cluster's member token), its queue's bounds, and how long its writer may idle before it drops the link.
   */
  record Settings(Forwarder.Sink sink, ClientTls tls, String nodeId, MemberToken token, long maxQueuedBytes,
      int maxQueuedRequests, long idleNanos) {
  }

  /** What {@link #enqueue} did with a batch. */
  enum Enqueued { QUEUED, FULL, DROPPED }

  private static final List<Forward> CLOSE = List.of();
  private final Settings settings;
  /** The map this link is in: asked whether the node is shutting down and whose address is the leader's. */
  private final LeaderLink owner;
  private final Forwarder.Sink sink;
  private final String address;
  private final LinkedBlockingQueue<List<Forward>> queue = new LinkedBlockingQueue<>();
  /** Guarded by this: the requests in {@link #queue}, and their bytes. */
  private int queuedRequests;
  private long queuedBytes;
  /** The writer's open connection, or null: set by the writer, read by {@link #close}. */
  private volatile LinkConnection current;
  /** Set by the reader when the leader refused the MemberHello (it had no token yet); the writer says it again. */
  private volatile boolean helloAgain;
  /** Guarded by this: the writer dropped the link (idle), or {@link #close} closed it; it takes no more batches. */
  private boolean dropped;

  /** Starts the link's writer thread; the link connects when its first batch comes. */
  AddressLink(Settings settings, LeaderLink owner, String address) {
    this.settings = settings;
    this.owner = owner;
    this.sink = settings.sink();
    this.address = address;
    Thread.ofVirtual().name("kvraft-leader-link-" + address).start(this::writeLoop);
  }

  /** Queues the batch, or refuses it (FULL) when the queue would pass its bounds and is not empty. */
  synchronized Enqueued enqueue(List<Forward> batch) {
    if (dropped) {
      return Enqueued.DROPPED;
    }
    long bytes = bytes(batch);
    if (queuedRequests > 0 && (queuedRequests + batch.size() > settings.maxQueuedRequests()
        || queuedBytes + bytes > settings.maxQueuedBytes())) {
      LOG.debug("link to {} holds {} requests ({} bytes) not yet written; refusing {} more", address,
          queuedRequests, queuedBytes, batch.size());
      return Enqueued.FULL;
    }
    queuedRequests += batch.size();
    queuedBytes += bytes;
    queue.add(batch);
    return Enqueued.QUEUED;
  }

  /**
   * The writer had nothing to write for {@link Settings#idleNanos}: drops the link (true) unless its address is the
   * leader's, something is queued, or a request on {@code conn} may still be answered within its deadline.
   */
  private synchronized boolean dropIfIdle(LinkConnection conn) {
    if (!queue.isEmpty() || owner.isLeaderAddress(address)
        || (conn != null && conn.awaitsAnswer(System.nanoTime()))) {
      return false;
    }
    dropped = true;
    owner.forget(address, this);
    LOG.debug("dropping the link to {}: nothing to write for {} ms and not the leader's address", address,
        java.util.concurrent.TimeUnit.NANOSECONDS.toMillis(settings.idleNanos()));
    return true;
  }

  /** The writer took the batch out of the queue. */
  private synchronized void taken(List<Forward> batch) {
    queuedRequests -= batch.size();
    queuedBytes -= bytes(batch);
  }

  private static long bytes(List<Forward> batch) {
    long bytes = 0;
    for (var f : batch) {
      bytes += f.request().getSerializedSize();
    }
    return bytes;
  }

  private void writeLoop() {
    LinkConnection conn = null;
    String end = "the link to " + address + " was closed";
    // Set when the coalescing loop took the close marker: the writer ends after the flush, whether it failed or not.
    boolean closeTaken = false;
    try {
      while (true) {
        var batch = queue.poll(settings.idleNanos(), java.util.concurrent.TimeUnit.NANOSECONDS);
        if (batch == null) {
          if (dropIfIdle(conn)) {
            end = "the link to " + address + " was idle and is not the leader's; closed";
            return; // the finally block closes the connection
          }
          continue;
        }
        taken(batch);
        if (batch == CLOSE) {
          return;
        }
        if (owner.isClosed()) {
          failed(batch, false, "node is shutting down");
          continue;
        }
        // The reader may have seen the connection end since the last batch: then reconnect first, so that a
        // request is never written into a connection already known to be dead.
        if (conn == null || conn.isBroken()) {
          try {
            conn = connect();
            owner.connected();
            current = conn;
          } catch (IOException e) {
            LOG.debug("cannot reach the leader at {}: {}", address, e.toString());
            conn = null;
            failed(batch, false, "cannot connect to " + address + ": " + e.getMessage());
            continue;
          }
          // A close that came while this connected found no connection to break (current is set just above, and
          // close sets closed before it reads current: one of the two sees the other). Nothing is written to it.
          if (owner.isClosed()) {
            breakConnection(conn, end);
            failed(batch, false, "node is shutting down");
            continue;
          }
        }
        try {
          if (helloAgain) {
            helloAgain = false;
            try {
              writeHello(conn.out);
            } catch (IOException e) {
              failed(batch, false, "the link to " + address + " broke before they were written: " + e.getMessage());
              throw e;
            }
          }
          write(conn, batch);
          owner.written();
          // Coalesce whatever else queued up meanwhile into the same flush.
          for (List<Forward> more; (more = queue.poll()) != null; ) {
            taken(more);
            if (more == CLOSE) {
              closeTaken = true;
              break;
            }
            write(conn, more);
          }
          conn.out.flush();
        } catch (IOException e) {
          // The close breaks the connection too: a flush after it fails here, and the writer still ends below.
          breakConnection(conn, "writing to the leader at " + address + " failed: " + e.getMessage());
        }
        if (closeTaken) {
          return;
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      if (conn != null) {
        breakConnection(conn, end);
      }
      // Nothing comes in after CLOSE or after the link was dropped (enqueue refuses): this drains the last.
      var left = new ArrayList<List<Forward>>();
      queue.drainTo(left);
      left.forEach(b -> failed(b, false, "node is shutting down"));
      owner.forget(address, this);
    }
  }

  /**
   * Writes one batch into the connection's buffer, each request with {@code timeout_ms} set to what is left of its
   * deadline now; one whose deadline has come is dropped and reported not sent (the loop answered it TIMEOUT
   * already, or answers it UNAVAILABLE now). If the connection breaks meanwhile, the requests not yet begun are
   * reported not sent here; the ones begun are the connection's to report ({@link #breakConnection}).
   */
  private void write(LinkConnection conn, List<Forward> batch) throws IOException {
    var late = new ArrayList<Long>();
    try {
      for (int i = 0; i < batch.size(); i++) {
        var f = batch.get(i);
        int timeoutMs = f.leaderTimeoutMs(System.nanoTime());
        if (timeoutMs == 0) {
          late.add(f.request().getId());
          continue;
        }
        if (!conn.begin(f.request().getId(), f.deadline())) {
          failed(batch.subList(i, batch.size()), false, "the link to " + address
              + " broke before they were written");
          throw new IOException("the connection was closed");
        }
        try {
          f.request().toBuilder().setTimeoutMs(timeoutMs).build().writeDelimitedTo(conn.out);
        } catch (IOException e) {
          failed(batch.subList(i + 1, batch.size()), false, "the link to " + address
              + " broke before they were written: " + e.getMessage());
          throw e;
        }
      }
    } finally {
      if (!late.isEmpty()) {
        sink.failed(late, false, "the deadline came before the link to the leader at " + address + " could write"
            + " the request (is the leader overloaded?)");
      }
    }
  }

  private LinkConnection connect() throws IOException {
    var leader = dev.kvraft.proto.HostPort.parse(address);
    if (settings.tls() == null && settings.token().get().isEmpty()) {
      throw new IOException("this node has not applied the cluster's member token yet, so the leader would not"
          + " take its requests");
    }
    var tcp = new Socket();
    tcp.setTcpNoDelay(true);
    tcp.connect(new InetSocketAddress(leader.host(), leader.port()), CONNECT_TIMEOUT_MS);
    Socket s = tcp;
    if (settings.tls() != null) {
      try {
        s = settings.tls().connect(tcp, leader.host(), leader.port(), java.time.Duration.ofMillis(CONNECT_TIMEOUT_MS));
      } catch (IOException e) {
        tcp.close();
        throw new IOException("TLS handshake with the leader at " + address + " failed: " + e.getMessage(), e);
      }
    }
    LinkConnection conn;
    InputStream in;
    try {
      conn = new LinkConnection(s, BUFFER_BYTES);
      in = new BufferedInputStream(s.getInputStream(), BUFFER_BYTES);
      // First on the connection, so the leader reads it before any forwarded request (no wait for its answer).
      writeHello(conn.out);
    } catch (IOException e) {
      s.close();
      throw e;
    }
    Thread.ofVirtual().name("kvraft-leader-link-reader-" + address).start(() -> readLoop(conn, in));
    return conn;
  }

  /** A MemberHello with the member token (TLS off); with TLS on the certificate says it and this writes nothing. */
  private void writeHello(OutputStream out) throws IOException {
    var memberToken = settings.tls() != null ? null : settings.token().get().orElse(null);
    if (memberToken != null) {
      Request.newBuilder().setId(HELLO_ID).setMemberHello(dev.kvraft.proto.MemberHello.newBuilder()
          .setNodeId(settings.nodeId()).setToken(memberToken)).build().writeDelimitedTo(out);
    }
  }

  private void readLoop(LinkConnection conn, InputStream in) {
    try {
      var answers = new dev.kvraft.proto.DelimitedReader<>(in, Response.parser());
      for (Response r; (r = answers.next()) != null; ) {
        if (r.getId() == HELLO_ID) {
          if (r.hasError()) {
            // The requests behind it are answered UNAVAILABLE, or PERMISSION_DENIED marked not_member: the loop
            // retries both until their deadline. The next batch says hello again first.
            LOG.warn("the leader at {} refused this node's MemberHello: {} ({})", address,
                r.getError().getMessage(), r.getError().getCode());
            helloAgain = true;
          }
          continue;
        }
        // Not there: the connection broke meanwhile and reported it failed already (one report per request).
        if (conn.answered(r.getId())) {
          sink.replied(r);
        }
      }
    } catch (IOException e) {
      LOG.debug("link to {} ended: {}", address, e.toString());
    }
    breakConnection(conn, "the leader at " + address + " closed the connection");
  }

  /**
   * Closes the connection (if nobody did yet) and reports its unanswered requests: sent when any byte of theirs was
   * handed to the socket, else not sent.
   */
  private void breakConnection(LinkConnection conn, String reason) {
    var lost = conn.breakOff();
    if (lost == null) {
      return;
    }
    LOG.debug("link to {} broke ({}): {} unanswered requests may have been applied, {} were not sent", address,
        reason, lost.maybeSent().size(), lost.notSent().size());
    if (!lost.maybeSent().isEmpty()) {
      sink.failed(lost.maybeSent(), true, reason);
    }
    if (!lost.notSent().isEmpty()) {
      sink.failed(lost.notSent(), false, reason);
    }
  }

  /**
   * Closes the link ({@link LeaderLink#close}): it refuses batches from now on, its writer ends (failing what is still
   * queued as not sent), and its connection breaks, reporting what it held.
   */
  void close() {
    synchronized (this) {
      dropped = true; // enqueue refuses from now on: a batch queued after CLOSE would never be written or reported
    }
    queue.add(CLOSE);
    var conn = current;
    if (conn != null) {
      breakConnection(conn, "node is shutting down");
    }
  }

  private void failed(List<Forward> forwards, boolean sent, String reason) {
    failed(sink, forwards, sent, reason);
  }

  /** Reports the forwards failed to the sink, as sent or not sent; nothing when there are none. */
  static void failed(Forwarder.Sink sink, List<Forward> forwards, boolean sent, String reason) {
    if (!forwards.isEmpty()) {
      sink.failed(forwards.stream().map(f -> f.request().getId()).toList(), sent, reason);
    }
  }
}
