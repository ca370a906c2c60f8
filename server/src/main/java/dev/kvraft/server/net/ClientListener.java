package dev.kvraft.server.net;

import dev.kvraft.server.config.ServerConfig;
import dev.kvraft.server.db.CommandSink;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import com.sun.management.UnixOperatingSystemMXBean;
import dev.kvraft.proto.Error;
import dev.kvraft.proto.Response;
import java.lang.management.ManagementFactory;
import java.net.Socket;
import java.util.concurrent.TimeUnit;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The client port: one platform thread, {@code kvraft-accept}, accepts connections and starts one virtual thread per
 * connection ({@link ClientConnection}); another, {@code kvraft-conn-sweeper}, closes connections whose client stopped
 * reading or trickles a frame in past its deadline ({@link #sweepLoop}). Owns the server socket, the set of open
 * connections, their count per source address (taken by the accept thread, given back by each connection's thread as
 * it ends) and the {@link ConnectionServices} they share (whose {@link ConnectionAuth} it closes at stop).
 *
 * <p>At most {@link #maxConnections()} connections are open at a time (limit.connections, capped at start below the
 * process's fd soft limit so Raft's log and SQLite always get descriptors), and at most
 * {@code limit.connections.per.address} from one client address ({@link SourceAddress}: an IPv6 address's /64), so
 * that one host cannot take them all; past either a new connection gets one {@code OVERLOADED} frame and is closed. A failing accept (EMFILE and the like) backs off exponentially up to one
 * second and is logged at most once a second with a count of failures.
 */
public final class ClientListener implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(ClientListener.class);

  private final ServerConfig config;
  /** What every connection shares (the loop's queue, the validator, members, backups, auth); built here once. */
  private final ConnectionServices services;
  private final ServerSocket serverSocket;
  private final Set<ClientConnection> connections = ConcurrentHashMap.newKeySet();
  private final AtomicLong accepted = new AtomicLong();
  private final AtomicLong refused = new AtomicLong();
  private final NetStats stats = new NetStats();
  private final ConnectionBudget budget;
  private final Thread acceptThread;
  /** {@code kvraft-conn-sweeper}: closes connections whose client stopped reading or overran a frame ({@link #sweepLoop}). */
  private final Thread sweeper;
  private final int maxConnections;
  /** limit.connections.per.address in force. */
  private final int maxPerAddress;
  /** Open connections per source address ({@link SourceAddress}); an address with none has no entry. */
  private final ConcurrentHashMap<SourceAddress, Integer> perAddress = new ConcurrentHashMap<>();
  /** TLS on the client port, or null for plaintext. */
  private final ClientTls tls;
  /** Waits and rate-limited reports after failed accepts; accept thread only. */
  private final AcceptBackoff backoff = new AcceptBackoff(System::nanoTime);

  /**
   * Binds the client port at once, so a port conflict fails start-up with a clear message. {@code tls} null: the
   * port speaks plaintext. {@code members} says which connections may send forwarded requests and ReadIndex.
   */
  public ClientListener(ServerConfig config, CommandSink loop, ClientTls tls, Members members,
      dev.kvraft.server.backup.BackupFiles backups,
      java.util.function.Supplier<dev.kvraft.server.auth.AuthState.View> authView) throws IOException {
    this.config = config;
    this.services = new ConnectionServices(loop, config, new RequestValidator(config.limits()), members, backups,
        new ConnectionAuth(authView, tls != null, System::nanoTime));
    this.tls = tls;
    this.budget = new ConnectionBudget(config.connections());
    var self = config.self();
    this.serverSocket = new ServerSocket();
    serverSocket.setReuseAddress(true);
    try {
      serverSocket.bind(new InetSocketAddress(self.host(), self.clientPort()), 1024);
    } catch (IOException e) {
      serverSocket.close();
      throw new IOException("cannot listen for clients on " + self.clientAddress() + ": " + e.getMessage()
          + " (is another kvraft or program using that port?)", e);
    }
    this.maxConnections = cappedToFdLimit(config.limits().maxConnections(), fdSoftLimit());
    this.maxPerAddress = config.connections().perAddressOf(maxConnections);
    this.acceptThread = Thread.ofPlatform().name("kvraft-accept").daemon(true).unstarted(this::acceptLoop);
    this.sweeper = Thread.ofPlatform().name("kvraft-conn-sweeper").daemon(true).unstarted(this::sweepLoop);
  }

  public void start() {
    acceptThread.start();
    sweeper.start();
  }

  /**
   * Once a second, while the port is open: closes each connection whose writer has been stuck in one socket write
   * for {@code client.write.timeout.ms}. The reader cannot see that on its own when the client sends nothing more,
   * and without it a client that stops reading would hold its answers (up to {@code limit.outbox.bytes}, counted in
   * the total) for as long as it keeps its socket open. Also closes each connection whose reader is in a read past
   * its frame's {@code client.frame.timeout.ms} (bytes trickling in inside one TLS record, which the socket's read
   * timeout does not bound).
   */
  private void sweepLoop() {
    while (!serverSocket.isClosed()) {
      try {
        Thread.sleep(1000);
      } catch (InterruptedException e) {
        return;
      }
      long now = System.nanoTime();
      for (var c : connections) {
        try {
          if (!c.closeIfWriteStalled(now)) {
            c.closeIfFrameOverdue(now);
          }
        } catch (RuntimeException e) {
          // One connection's failure must not end the sweeps of all the others.
          LOG.error("the connection sweeper failed on one connection and goes on with the others: {}", e.toString());
        }
      }
    }
  }

  /** The port actually bound (useful when the config named port 0 in tests). */
  public int port() {
    return serverSocket.getLocalPort();
  }

  /** The connection limit in force: limit.connections, capped below the fd soft limit. */
  public int maxConnections() {
    return maxConnections;
  }

  /** Descriptors kept for Raft's log segments, SQLite and the JVM: 512, or a quarter of the limit when smaller. */
  static int reserve(long fdLimit) {
    return (int) Math.min(512, fdLimit / 4);
  }

  /** {@code configured}, or fewer so that {@link #reserve} descriptors stay free; 0 or less fdLimit means unknown. */
  int cappedToFdLimit(int configured, long fdLimit) {
    if (fdLimit <= 0) {
      return configured;
    }
    long room = Math.max(1, fdLimit - reserve(fdLimit));
    if (configured <= room) {
      return configured;
    }
    LOG.warn("limit.connections is {} but the fd soft limit (ulimit -n) is {}: allowing {} client connections and"
        + " keeping {} descriptors for Raft's log and SQLite; raise LimitNOFILE / ulimit -n to allow more",
        configured, fdLimit, room, reserve(fdLimit));
    return (int) room;
  }

  /** RLIMIT_NOFILE's soft limit, or -1 when the platform does not say. */
  private static long fdSoftLimit() {
    if (ManagementFactory.getOperatingSystemMXBean() instanceof UnixOperatingSystemMXBean unix) {
      return unix.getMaxFileDescriptorCount();
    }
    return -1;
  }

  private void acceptLoop() {
    while (!serverSocket.isClosed()) {
      try {
        var socket = serverSocket.accept();
        backoff.succeeded();
        if (connections.size() >= maxConnections) {
          refuse(socket, "node " + config.nodeId() + " has " + maxConnections + " client connections open"
              + " (limit.connections); retry later or use another node");
          continue;
        }
        var source = SourceAddress.of(socket.getInetAddress());
        if (!admit(source)) {
          refuse(socket, "node " + config.nodeId() + " has " + maxPerAddress + " client connections open from "
              + source + " (limit.connections.per.address); close some, or raise the limit for many clients behind"
              + " one address");
          continue;
        }
        startConnection(socket, source);
      } catch (IOException e) {
        if (serverSocket.isClosed()) {
          return;
        }
        long backoffMillis = backoff.failed();
        acceptFailed(e);
        try {
          Thread.sleep(backoffMillis); // the cause (e.g. EMFILE) persists for a while; do not spin on it
        } catch (InterruptedException ie) {
          return;
        }
      }
    }
  }

  /**
   * Serves one accepted socket on a virtual thread of its own. Whatever fails before that thread runs (memory, a
   * thread that cannot start) closes that socket and is logged; it never ends the accept loop, which would leave the
   * node running but taking no client.
   */
  private void startConnection(java.net.Socket socket, SourceAddress source) {
    ClientConnection connection = null;
    boolean threadStarted = false;
    try {
      connection = new ClientConnection(socket, services, stats, budget, tls);
      connections.add(connection);
      var started = connection;
      Thread.ofVirtual().name("kvraft-conn-" + accepted.incrementAndGet()).start(() -> {
        try {
          started.serve();
        } finally {
          connections.remove(started);
          release(source);
        }
      });
      threadStarted = true;
    } catch (RuntimeException | java.lang.Error e) {
      if (connection != null) {
        connections.remove(connection);
      }
      if (!threadStarted) {
        release(source);
      }
      try {
        socket.close();
      } catch (IOException ignored) {
        // closing a connection that could not be served
      }
      LOG.error("could not serve a client connection from {}: {}; closed it, still accepting others",
          socket.getRemoteSocketAddress(), e.toString());
    }
  }

  private void acceptFailed(IOException e) {
    var report = backoff.report(e.toString());
    if (report != null) {
      LOG.warn("accept on {} failed {} time(s) since the last report, last: {} ({} open client connections);"
          + " retrying in {} ms (if this is 'Too many open files', raise ulimit -n or lower limit.connections)",
          config.self().clientAddress(), report.failures(), report.lastError(), connections.size(),
          report.waitMillis());
    }
  }

  /** Counts one more connection from {@code source}, unless it has {@link #maxPerAddress} open already. */
  private boolean admit(SourceAddress source) {
    var admitted = new boolean[1];
    perAddress.compute(source, (s, open) -> {
      int now = open == null ? 0 : open;
      admitted[0] = now < maxPerAddress;
      return admitted[0] ? now + 1 : open;
    });
    return admitted[0];
  }

  /** One connection from {@code source} ended. */
  private void release(SourceAddress source) {
    perAddress.computeIfPresent(source, (s, open) -> open > 1 ? open - 1 : null);
  }

  /** Client connections open now from {@code address}'s source ({@link SourceAddress}); for tests. */
  int openFrom(java.net.InetAddress address) {
    return perAddress.getOrDefault(SourceAddress.of(address), 0);
  }

  /** Sends one OVERLOADED frame (plaintext port; with TLS just closes) to a connection over a limit; never blocks. */
  private void refuse(Socket socket, String message) {
    refused.incrementAndGet();
    try (socket) {
      if (tls != null) {
        return; // a plaintext frame would be garbage to a TLS client, and a handshake costs what the limit saves
      }
      var response = Response.newBuilder().setError(Error.newBuilder().setCode(Error.Code.OVERLOADED)
          .setMessage(message)).build();
      // A few dozen bytes into a fresh socket's send buffer: does not block.
      var out = socket.getOutputStream();
      response.writeDelimitedTo(out);
      out.flush();
      socket.shutdownOutput();
    } catch (IOException e) {
      LOG.debug("refusing a connection over a connection limit: {}", e.toString());
    }
  }

  /** Client connections open now. */
  public int openConnections() {
    return connections.size();
  }

  /** Client connections accepted since start (refused ones not counted). */
  public long acceptedConnections() {
    return accepted.get();
  }

  /** Bytes read from and written to clients since start. */
  public NetStats stats() {
    return stats;
  }

  /** Bytes (frame lengths) of requests read from every client and not answered yet; for tests. */
  long inflightBytes() {
    return budget.inflightBytes();
  }

  /** Connections refused because limit.connections or limit.connections.per.address was reached, since start. */
  public long refused() {
    return refused.get();
  }

  /** Stops accepting new connections; open ones go on. */
  public void stopAccepting() {
    try {
      serverSocket.close();
    } catch (IOException e) {
      LOG.debug("closing the client port: {}", e.toString());
    }
  }

  /**
   * Stops accepting, lets every connection write what it owes until the deadline ({@link System#nanoTime()}), then
   * closes whatever is left.
   */
  public void close(long deadlineNanos) throws InterruptedException {
    stopAccepting();
    connections.forEach(ClientConnection::finish);
    try {
      while (!connections.isEmpty() && System.nanoTime() < deadlineNanos) {
        Thread.sleep(10);
      }
    } finally {
      // An interrupt ends the wait, never the close: the connections still close.
      connections.forEach(ClientConnection::close);
      services.auth().close();
    }
  }

  @Override
  public void close() throws InterruptedException {
    close(System.nanoTime());
  }
}
