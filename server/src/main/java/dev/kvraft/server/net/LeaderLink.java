package dev.kvraft.server.net;

import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import dev.kvraft.server.db.Forwarder;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A follower's link to the leader's client port: kvraft's own pipelined protocol, one connection per leader
 * address. The leader accepts forwarded requests and ReadIndex only from members: with TLS on the link presents
 * this node's certificate; with TLS off it opens with a {@code MemberHello} carrying the cluster's member token
 * (and is not opened at all until this node has applied the token: the batch fails as not sent, and the loop
 * retries it). {@link #send} only queues a batch (the database loop never waits on a socket); the connection's writer
 * virtual thread connects when needed and writes each batch with one flush; its reader virtual thread hands every
 * answer to the {@link Forwarder.Sink}.
 *
 * <p>A slow leader must not make a follower hold forwards without bound, nor apply one its client was already told
 * had timed out: each link's queue is bounded ({@link #MAX_QUEUED_BYTES}, {@link #MAX_QUEUED_REQUESTS}; past them
 * {@link #send} refuses the batch and the loop answers OVERLOADED), and the writer sets each request's
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
 * <p>Links do not outlive their use: a link's writer that has had nothing to write for {@link #IDLE_LINK} closes its
 * connection and drops the link from the map, unless its address is the one the loop sent to last (the leader's, as
 * far as this node knows) or a request on it still waits for an answer within its deadline. So the link to a member
 * that was removed, or to a leader's old address, goes once it is idle; a request it still held past its deadline
 * (the loop answered it TIMEOUT already) is reported as a broken connection reports it (sent when any of its bytes
 * was handed to the socket). A batch for a dropped link's address opens a new one.
 *
 * <p>Who owns what: the link owns its connections (a concurrent map by address; a link's writer removes it). Each
 * {@code Link}'s writer thread owns its queue's consumer side and its current {@link Connection}'s output; the reader
 * thread owns the input; the queue's byte and request counts and whether the link was dropped are guarded by the
 * {@code Link}'s lock ({@link #send} adds, the writer takes). {@link #lastAddress} is written by {@link #send}.
 * {@link #closed} is set by {@link #close} under a lock that {@link #send} holds while it checks it and makes a
 * link, so a link is either made before the close (which closes it) or not at all; a closed {@code Link} refuses
 * batches like a dropped one, and its writer takes it out of the map when it ends. A
 * {@code Connection}'s table of unanswered requests is guarded by the connection's lock: the writer adds to it, the
 * reader takes answers out of it, and whoever breaks the connection first (writer, reader, or {@link #close}) takes
 * the rest and reports them.
 */
public final class LeaderLink implements Forwarder, AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(LeaderLink.class);
  private static final int CONNECT_TIMEOUT_MS = 1000;
  private static final int BUFFER_BYTES = 64 * 1024;
  /**
   * What one link may hold queued and not yet written, in bytes of requests and in requests (server/DESIGN.md, "What
   * a client may hold"): a batch that would pass either is refused, but an empty queue takes any batch.
   */
  static final long MAX_QUEUED_BYTES = 64L << 20;
  static final int MAX_QUEUED_REQUESTS = 65_536;
  /** How long a link to an address that is not the leader's may stay with nothing to write before it is dropped. */
  static final java.time.Duration IDLE_LINK = java.time.Duration.ofSeconds(30);

  private final Sink sink;
  /** TLS towards the leader (this node's certificate as the client certificate), or null for plaintext. */
  private final ClientTls tls;
  /** This node's id and the cluster's member token, for the MemberHello that opens a plaintext link. */
  private final String nodeId;
  private final dev.kvraft.server.db.MemberToken token;
  private final Map<String, Link> links = new ConcurrentHashMap<>();
  private final long maxQueuedBytes;
  private final int maxQueuedRequests;
  private final long idleNanos;
  /** The address of the last {@link #send}: the leader's as far as the loop knows; its link is never dropped idle. */
  private volatile String lastAddress;
  /** Held by {@link #close} to set {@link #closed}, and by {@link #send} to check it and make a link. */
  private final Object lifecycle = new Object();
  /** Set once, under {@link #lifecycle}. */
  private volatile boolean closed;
  private volatile Runnable sendHook = () -> { };

  /**
   * The id of the MemberHello on every plaintext link. Every other request on a link carries an id of the loop's own
   * ({@code CallIds}: forwards, read-index calls, removal notices), which count up from 1 and never reach it.
   */
  static final long HELLO_ID = -1L;

  public LeaderLink(Sink sink, ClientTls tls, String nodeId, dev.kvraft.server.db.MemberToken token) {
    this(sink, tls, nodeId, token, MAX_QUEUED_BYTES, MAX_QUEUED_REQUESTS, IDLE_LINK);
  }

  /** With other bounds on each link's queue and on an idle link's life: for tests. */
  LeaderLink(Sink sink, ClientTls tls, String nodeId, dev.kvraft.server.db.MemberToken token, long maxQueuedBytes,
      int maxQueuedRequests, java.time.Duration idle) {
    this.sink = sink;
    this.tls = tls;
    this.nodeId = nodeId;
    this.token = token;
    this.maxQueuedBytes = maxQueuedBytes;
    this.maxQueuedRequests = maxQueuedRequests;
    this.idleNanos = idle.toNanos();
  }

  @Override
  public boolean send(String address, List<Forward> batch) {
    while (true) {
      Link link;
      synchronized (lifecycle) {
        // Under the lock close() takes to set closed: no link is made after close() has looked for links to close.
        if (!closed) {
          lastAddress = address;
          sendHook.run();
        }
        link = closed ? null : links.computeIfAbsent(address, Link::new);
      }
      if (link == null) {
        failed(batch, false, "node is shutting down");
        return true;
      }
      switch (link.enqueue(batch)) {
        case QUEUED -> {
          return true;
        }
        case FULL -> {
          return false;
        }
        case DROPPED -> {
          // Its writer dropped it (idle), or close() closed it, after the map gave it out: the next turn finds a new
          // one, or that the node is shutting down.
        }
      }
    }
  }

  /** Runs in {@link #send} after it found the link open, before it takes or makes the link: for tests. */
  void onSend(Runnable hook) {
    this.sendHook = hook;
  }

  /** The addresses this node holds a link to now: for tests. */
  java.util.Set<String> addresses() {
    return java.util.Set.copyOf(links.keySet());
  }

  private enum Enqueued { QUEUED, FULL, DROPPED }

  /**
   * Closes every link: each fails what it still holds, its connection is closed, and its threads end. A {@link #send}
   * that runs at the same time either made its link before (and it is closed here) or finds the link closed and
   * reports its batch not sent.
   */
  @Override
  public void close() {
    synchronized (lifecycle) {
      closed = true;
    }
    links.values().forEach(Link::close);
  }

  private void failed(List<Forward> forwards, boolean sent, String reason) {
    if (!forwards.isEmpty()) {
      sink.failed(forwards.stream().map(f -> f.request().getId()).toList(), sent, reason);
    }
  }

  /** One connection to one address, reopened on demand after a failure. */
  private final class Link {
    private static final List<Forward> CLOSE = List.of();
    private final String address;
    private final LinkedBlockingQueue<List<Forward>> queue = new LinkedBlockingQueue<>();
    /** Guarded by this: the requests in {@link #queue}, and their bytes. */
    private int queuedRequests;
    private long queuedBytes;
    /** The writer's open connection, or null: set by the writer, read by {@link #close}. */
    private volatile Connection current;
    /** Set by the reader when the leader refused the MemberHello (it had no token yet); the writer says it again. */
    private volatile boolean helloAgain;
    /** Guarded by this: the writer dropped the link (idle), or {@link #close} closed it; it takes no more batches. */
    private boolean dropped;

    Link(String address) {
      this.address = address;
      Thread.ofVirtual().name("kvraft-leader-link-" + address).start(this::writeLoop);
    }

    /** Queues the batch, or refuses it (FULL) when the queue would pass its bounds and is not empty. */
    synchronized Enqueued enqueue(List<Forward> batch) {
      if (dropped) {
        return Enqueued.DROPPED;
      }
      long bytes = bytes(batch);
      if (queuedRequests > 0 && (queuedRequests + batch.size() > maxQueuedRequests
          || queuedBytes + bytes > maxQueuedBytes)) {
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
     * The writer had nothing to write for {@link #idleNanos}: drops the link (true) unless its address is the
     * leader's, something is queued, or a request on {@code conn} may still be answered within its deadline.
     */
    private synchronized boolean dropIfIdle(Connection conn) {
      if (!queue.isEmpty() || address.equals(lastAddress) || (conn != null && conn.awaitsAnswer(System.nanoTime()))) {
        return false;
      }
      dropped = true;
      links.remove(address, this);
      LOG.debug("dropping the link to {}: nothing to write for {} ms and not the leader's address", address,
          java.util.concurrent.TimeUnit.NANOSECONDS.toMillis(idleNanos));
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
      Connection conn = null;
      String end = "the link to " + address + " was closed";
      try {
        while (true) {
          var batch = queue.poll(idleNanos, java.util.concurrent.TimeUnit.NANOSECONDS);
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
          if (closed) {
            failed(batch, false, "node is shutting down");
            continue;
          }
          // The reader may have seen the connection end since the last batch: then reconnect first, so that a
          // request is never written into a connection already known to be dead.
          if (conn == null || conn.isBroken()) {
            try {
              conn = connect();
              current = conn;
            } catch (IOException e) {
              LOG.debug("cannot reach the leader at {}: {}", address, e.toString());
              conn = null;
              failed(batch, false, "cannot connect to " + address + ": " + e.getMessage());
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
            // Coalesce whatever else queued up meanwhile into the same flush.
            for (List<Forward> more; (more = queue.poll()) != null; ) {
              taken(more);
              if (more == CLOSE) {
                conn.out.flush();
                return;
              }
              write(conn, more);
            }
            conn.out.flush();
          } catch (IOException e) {
            breakConnection(conn, "writing to the leader at " + address + " failed: " + e.getMessage());
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
        links.remove(address, this);
      }
    }

    /**
     * Writes one batch into the connection's buffer, each request with {@code timeout_ms} set to what is left of its
     * deadline now; one whose deadline has come is dropped and reported not sent (the loop answered it TIMEOUT
     * already, or answers it UNAVAILABLE now). If the connection breaks meanwhile, the requests not yet begun are
     * reported not sent here; the ones begun are the connection's to report ({@link #breakConnection}).
     */
    private void write(Connection conn, List<Forward> batch) throws IOException {
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

    private Connection connect() throws IOException {
      var leader = dev.kvraft.proto.HostPort.parse(address);
      if (tls == null && token.get().isEmpty()) {
        throw new IOException("this node has not applied the cluster's member token yet, so the leader would not"
            + " take its requests");
      }
      var tcp = new Socket();
      tcp.setTcpNoDelay(true);
      tcp.connect(new InetSocketAddress(leader.host(), leader.port()), CONNECT_TIMEOUT_MS);
      Socket s = tcp;
      if (tls != null) {
        try {
          s = tls.connect(tcp, leader.host(), leader.port(), java.time.Duration.ofMillis(CONNECT_TIMEOUT_MS));
        } catch (IOException e) {
          tcp.close();
          throw new IOException("TLS handshake with the leader at " + address + " failed: " + e.getMessage(), e);
        }
      }
      Connection conn;
      InputStream in;
      try {
        conn = new Connection(s);
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
      var memberToken = tls != null ? null : token.get().orElse(null);
      if (memberToken != null) {
        Request.newBuilder().setId(HELLO_ID).setMemberHello(dev.kvraft.proto.MemberHello.newBuilder()
            .setNodeId(nodeId).setToken(memberToken)).build().writeDelimitedTo(out);
      }
    }

    private void readLoop(Connection conn, InputStream in) {
      try {
        var answers = new dev.kvraft.proto.DelimitedReader<>(in, Response.parser());
        for (Response r; (r = answers.next()) != null; ) {
          if (r.getId() == HELLO_ID) {
            if (r.hasError()) {
              // The requests behind it are answered UNAVAILABLE (retried by the loop) or PERMISSION_DENIED and
              // relayed as such; the next batch says hello again first.
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
    private void breakConnection(Connection conn, String reason) {
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
  }

  /**
   * One TCP (or TLS) connection: its socket, its output (a buffer between two byte counts), and the requests written
   * to it that await an answer, each with the offset where its frame starts. The writer writes {@link #out}; the
   * table is guarded by this object's lock.
   */
  private static final class Connection {
    private final Socket socket;
    /** Bytes handed to the socket's stream, counted before each is handed (a write under way counts). */
    private final CountingOutputStream handedDown;
    /** What the writer writes: bytes counted here go to the buffer, then to {@link #handedDown}, in order. */
    final CountingOutputStream out;
    /** Request id → where its frame starts in {@link #out}, and its deadline; emptied when the connection breaks. */
    private final Map<Long, Written> unanswered = new HashMap<>();
    private boolean broken;

    Connection(Socket socket) throws IOException {
      this.socket = socket;
      this.handedDown = new CountingOutputStream(socket.getOutputStream());
      this.out = new CountingOutputStream(new BufferedOutputStream(handedDown, BUFFER_BYTES));
    }

    synchronized boolean isBroken() {
      return broken;
    }

    /** The writer is about to write this request: false (write nothing) when the connection broke already. */
    synchronized boolean begin(long id, long deadline) {
      if (broken) {
        return false;
      }
      unanswered.put(id, new Written(out.count(), deadline));
      return true;
    }

    /** A request written here: the offset where its frame starts, and its deadline ({@link System#nanoTime()}). */
    private record Written(long start, long deadline) {}

    /** Whether a request written here waits for an answer and its deadline has not come at {@code now}. */
    synchronized boolean awaitsAnswer(long now) {
      if (broken) {
        return false;
      }
      for (var w : unanswered.values()) {
        if (w.deadline() - now > 0) {
          return true;
        }
      }
      return false;
    }

    /** The leader answered: whether the request was still waiting here (else it was reported failed already). */
    synchronized boolean answered(long id) {
      return unanswered.remove(id) != null;
    }

    record Lost(List<Long> maybeSent, List<Long> notSent) {}

    /**
     * Closes the socket and takes the unanswered requests out, split by whether any of their bytes was handed to
     * the socket; null when the connection was broken already. The socket is closed before the count is read: a
     * write that starts after the close fails, so a request counted as not handed down can never reach the leader.
     */
    Lost breakOff() {
      synchronized (this) {
        if (broken) {
          return null;
        }
        broken = true;
      }
      try {
        socket.close();
      } catch (IOException ignored) {
        // already broken
      }
      synchronized (this) {
        long handed = handedDown.count();
        var maybeSent = new ArrayList<Long>();
        var notSent = new ArrayList<Long>();
        unanswered.forEach((id, w) -> (w.start() < handed ? maybeSent : notSent).add(id));
        unanswered.clear();
        return new Lost(maybeSent, notSent);
      }
    }
  }

  /** Counts the bytes written through it; each write is counted before it is passed on. */
  private static final class CountingOutputStream extends FilterOutputStream {
    private final AtomicLong count = new AtomicLong();

    CountingOutputStream(OutputStream out) {
      super(out);
    }

    long count() {
      return count.get();
    }

    @Override
    public void write(int b) throws IOException {
      count.incrementAndGet();
      out.write(b);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      count.addAndGet(len);
      out.write(b, off, len);
    }
  }
}
