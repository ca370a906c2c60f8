package dev.kvraft.server.net;

import dev.kvraft.server.config.ServerConfig;
import dev.kvraft.server.db.DatabaseLoop;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.SocketException;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The client port: one platform thread, {@code kvraft-accept}, accepts connections and starts one virtual thread per
 * connection ({@link ClientConnection}). Owns the server socket and the set of open connections.
 */
public final class ClientListener implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(ClientListener.class);

  private final ServerConfig config;
  private final DatabaseLoop loop;
  private final RequestValidator validator;
  private final ServerSocket serverSocket;
  private final Set<ClientConnection> connections = ConcurrentHashMap.newKeySet();
  private final AtomicLong accepted = new AtomicLong();
  private final Thread acceptThread;

  /** Binds the client port at once, so a port conflict fails start-up with a clear message. */
  public ClientListener(ServerConfig config, DatabaseLoop loop) throws IOException {
    this.config = config;
    this.loop = loop;
    this.validator = new RequestValidator(config.limits());
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
    this.acceptThread = Thread.ofPlatform().name("kvraft-accept").daemon(true).unstarted(this::acceptLoop);
  }

  public void start() {
    acceptThread.start();
  }

  /** The port actually bound (useful when the config named port 0 in tests). */
  public int port() {
    return serverSocket.getLocalPort();
  }

  private void acceptLoop() {
    while (!serverSocket.isClosed()) {
      try {
        var socket = serverSocket.accept();
        var connection = new ClientConnection(socket, loop, config, validator);
        connections.add(connection);
        Thread.ofVirtual().name("kvraft-conn-" + accepted.incrementAndGet()).start(() -> {
          try {
            connection.serve();
          } finally {
            connections.remove(connection);
          }
        });
      } catch (SocketException e) {
        if (!serverSocket.isClosed()) {
          LOG.warn("accept on {} failed: {}", config.self().clientAddress(), e.toString());
        }
      } catch (IOException e) {
        LOG.warn("accept on {} failed: {}", config.self().clientAddress(), e.toString());
      }
    }
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
    while (!connections.isEmpty() && System.nanoTime() < deadlineNanos) {
      Thread.sleep(10);
    }
    connections.forEach(ClientConnection::close);
  }

  @Override
  public void close() throws InterruptedException {
    close(System.nanoTime());
  }
}
