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
 * address, over TLS with this node's certificate when TLS is on (the leader accepts forwarded requests and
 * ReadIndex only from a member's certificate). {@link #send} only queues a batch (the database loop never waits on a socket); the connection's writer
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
  private final Map<String, Link> links = new ConcurrentHashMap<>();
  private volatile boolean closed;

  public LeaderLink(Sink sink, ClientTls tls) {
    this.sink = sink;
    this.tls = tls;
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
      return new BufferedOutputStream(s.getOutputStream(), 64 * 1024);
    }

    private void readLoop(Socket s, InputStream in) {
      try {
        for (Response r; (r = Response.parseDelimitedFrom(in)) != null; ) {
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
