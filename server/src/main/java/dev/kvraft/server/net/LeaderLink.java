package dev.kvraft.server.net;

import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import dev.kvraft.server.db.Forwarder;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A follower's link to the leader's client port: kvraft's own pipelined protocol, one connection per leader
 * address. The leader accepts forwarded requests and ReadIndex only from members: with TLS on the link presents
 * this node's certificate; with TLS off it opens with a {@code MemberHello} carrying the cluster's member token
 * (and is not opened at all until this node has applied the token: the batch fails as not sent, and the loop
 * retries it). {@link #send} only queues a batch (the database loop never waits on a socket); the connection's writer
 * virtual thread connects when needed and writes each batch with one flush; its reader virtual thread hands every
 * answer to the {@link Forwarder.Sink}. When a connection breaks, every request it carried is reported failed, with
 * whether it had been sent.
 *
 * <p>Owns its connections (a concurrent map by address); each connection owns its socket and its set of requests
 * in flight.
 */
public final class LeaderLink implements Forwarder, AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(LeaderLink.class);
  private static final int CONNECT_TIMEOUT_MS = 1000;

  private final Sink sink;
  /** TLS towards the leader (this node's certificate as the client certificate), or null for plaintext. */
  private final ClientTls tls;
  /** This node's id and the cluster's member token, for the MemberHello that opens a plaintext link. */
  private final String nodeId;
  private final dev.kvraft.server.db.MemberToken token;
  private final Map<String, Link> links = new ConcurrentHashMap<>();
  private volatile boolean closed;

  /**
   * The id of the MemberHello on every plaintext link. Every other request on a link carries an id of the loop's own
   * ({@code CallIds}: forwards, read-index calls, removal notices), which count up from 1 and never reach it.
   */
  static final long HELLO_ID = -1L;

  public LeaderLink(Sink sink, ClientTls tls, String nodeId, dev.kvraft.server.db.MemberToken token) {
    this.sink = sink;
    this.tls = tls;
    this.nodeId = nodeId;
    this.token = token;
  }

  @Override
  public void send(String address, List<Request> batch) {
    if (closed) {
      sink.failed(batch.stream().map(Request::getId).toList(), false, "node is shutting down");
      return;
    }
    links.computeIfAbsent(address, Link::new).enqueue(batch);
  }

  @Override
  public void close() {
    closed = true;
    links.values().forEach(Link::close);
  }

  /** One connection to one address, reopened on demand after a failure. */
  private final class Link {
    private static final List<Request> CLOSE = List.of();
    private final String address;
    private final LinkedBlockingQueue<List<Request>> queue = new LinkedBlockingQueue<>();
    private final Set<Long> inFlight = ConcurrentHashMap.newKeySet();
    private volatile Socket socket;
    /** Set by the reader when the leader refused the MemberHello (it had no token yet); the writer says it again. */
    private volatile boolean helloAgain;

    Link(String address) {
      this.address = address;
      Thread.ofVirtual().name("kvraft-leader-link-" + address).start(this::writeLoop);
    }

    void enqueue(List<Request> batch) {
      queue.add(batch);
    }

    private void writeLoop() {
      OutputStream out = null;
      Socket mine = null;
      try {
        while (true) {
          var batch = queue.take();
          if (batch == CLOSE) {
            return;
          }
          // The reader may have seen the connection end since the last batch: then reconnect first, so that a
          // request is never written into a connection already known to be dead.
          if (out == null || mine != socket || mine.isClosed()) {
            try {
              out = connect();
              mine = socket;
            } catch (IOException e) {
              LOG.debug("cannot reach the leader at {}: {}", address, e.toString());
              out = null;
              failBatch(batch, false, "cannot connect to " + address + ": " + e.getMessage());
              continue;
            }
          }
          var written = new ArrayList<Long>();
          try {
            if (helloAgain) {
              helloAgain = false;
              writeHello(out);
            }
            for (var r : batch) {
              inFlight.add(r.getId());
              written.add(r.getId());
              r.writeDelimitedTo(out);
            }
            // Coalesce whatever else queued up meanwhile into the same flush.
            for (List<Request> more; (more = queue.poll()) != null; ) {
              if (more == CLOSE) {
                out.flush();
                return;
              }
              for (var r : more) {
                inFlight.add(r.getId());
                written.add(r.getId());
                r.writeDelimitedTo(out);
              }
            }
            out.flush();
          } catch (IOException e) {
            if (mine.isClosed()) {
              // Closed on our side before these left: certainly not sent.
              inFlight.removeAll(written);
              sink.failed(written, false, "the link to " + address + " was closed");
            }
            breakConnection("write failed: " + e.getMessage());
            out = null;
          }
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } finally {
        breakConnection("link closed");
      }
    }

    private OutputStream connect() throws IOException {
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
      socket = s;
      var in = new BufferedInputStream(s.getInputStream(), 64 * 1024);
      var connected = s;
      Thread.ofVirtual().name("kvraft-leader-link-reader-" + address).start(() -> readLoop(connected, in));
      var out = new BufferedOutputStream(s.getOutputStream(), 64 * 1024);
      // First on the connection, so the leader reads it before any forwarded request (no wait for its answer).
      writeHello(out);
      return out;
    }

    /** A MemberHello with the member token (TLS off); with TLS on the certificate says it and this writes nothing. */
    private void writeHello(OutputStream out) throws IOException {
      var memberToken = tls != null ? null : token.get().orElse(null);
      if (memberToken != null) {
        Request.newBuilder().setId(HELLO_ID).setMemberHello(dev.kvraft.proto.MemberHello.newBuilder()
            .setNodeId(nodeId).setToken(memberToken)).build().writeDelimitedTo(out);
      }
    }

    private void readLoop(Socket s, InputStream in) {
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
          inFlight.remove(r.getId());
          sink.replied(r);
        }
      } catch (IOException e) {
        LOG.debug("link to {} ended: {}", address, e.toString());
      }
      if (socket == s) {
        breakConnection("the leader at " + address + " closed the connection");
      }
    }

    /** Closes the socket and reports every request in flight as sent but unanswered. */
    private synchronized void breakConnection(String reason) {
      var s = socket;
      socket = null;
      if (s != null) {
        try {
          s.close();
        } catch (IOException ignored) {
          // already broken
        }
      }
      if (!inFlight.isEmpty()) {
        var ids = new ArrayList<>(inFlight);
        inFlight.removeAll(ids);
        sink.failed(ids, true, reason);
      }
    }

    private void failBatch(List<Request> batch, boolean sent, String reason) {
      sink.failed(batch.stream().map(Request::getId).toList(), sent, reason);
    }

    void close() {
      queue.add(CLOSE);
      var s = socket;
      if (s != null) {
        try {
          s.close();
        } catch (IOException ignored) {
          // closing
        }
      }
    }
  }
}
