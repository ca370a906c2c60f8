package dev.kvraft.server.net;

import dev.kvraft.proto.PemTls;
import dev.kvraft.server.config.ServerConfig;
import dev.kvraft.server.raft.tls.PeerIdentity;
import java.io.IOException;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLSocket;

/**
 * TLS on the client port: turns an accepted socket into an {@link SSLSocket} by a server-side handshake on the
 * connection's own virtual thread, and the follower's side of the link to the leader.
 *
 * <p>A handshake must finish within {@code client.handshake.timeout.ms} of the connection (a timer closes the socket
 * otherwise, so a client that sends its ClientHello a byte at a time gains nothing). A flood of handshakes is
 * bounded by {@code limit.connections} and that deadline; its CPU (key exchange, signatures) is spent on the
 * virtual-thread carriers, while the database loop is a platform thread and keeps its share (tested by
 * {@code ClientTlsTest}). There is deliberately no cap on handshakes in progress: idle half-open connections
 * would hold its slots and lock honest clients out.
 *
 * <p>Owns the current {@link SSLContext} (a volatile reference replaced whole by {@link #reload()} on SIGHUP: new
 * connections use the new files, open ones keep theirs) and the deadline timer thread {@code kvraft-tls-deadline}.
 */
public final class ClientTls implements AutoCloseable {
  private final ServerConfig.TlsFiles files;
  private final ScheduledExecutorService timer;
  private volatile SSLContext context;

  private ClientTls(ServerConfig.TlsFiles files, SSLContext context) {
    this.files = files;
    this.context = context;
    var t = new ScheduledThreadPoolExecutor(1, r -> Thread.ofPlatform().name("kvraft-tls-deadline").daemon(true)
        .unstarted(r));
    t.setRemoveOnCancelPolicy(true);
    this.timer = t;
  }

  /**
   * Reads the PEM files; an unreadable, non-PEM or expired one, or a key that is not the certificate's, is an
   * IOException naming it.
   */
  public static ClientTls load(ServerConfig.TlsFiles files) throws IOException {
    return new ClientTls(files, files.pem().context());
  }

  /** Re-reads the files; on failure the current context stays and the exception names the file. */
  public void reload() throws IOException {
    context = files.pem().context();
  }

  /**
   * Builds a context from {@code m}, read once by the caller for both of the node's ports, and returns what installs
   * it; on failure nothing changes. Reads no file.
   */
  public Runnable prepareReload(PemTls.Material m) throws IOException {
    var built = m.context();
    return () -> context = built;
  }

  public ServerConfig.ClientAuth clientAuth() {
    return files.clientAuth();
  }

  /**
   * The server side of a handshake on an accepted socket, within the deadline. Throws (and the caller closes the
   * socket) on a plaintext client, an untrusted or missing certificate where one is required, or a timeout.
   */
  SSLSocket accept(Socket raw) throws IOException, InterruptedException {
    var timeout = files.handshakeTimeout();
    long deadline = System.nanoTime() + timeout.toNanos();
    var watchdog = timer.schedule(() -> closeQuietly(raw), timeout.toMillis(), TimeUnit.MILLISECONDS);
    try {
      // The first two bytes say whether this is TLS at all (a handshake record starts 0x16 0x03; a kvraft frame
      // of 22 bytes starts 0x16 then a field tag, never 3); they are handed back to the TLS engine as already read.
      // A plaintext kvraft client gets a kvraft error frame it can show, not TLS garbage.
      raw.setSoTimeout((int) Math.max(1, timeout.toMillis()));
      var in = raw.getInputStream();
      int first = in.read();
      int second = first == 0x16 ? in.read() : -1;
      if (first != 0x16 || second != 0x03) {
        if (first >= 0 && (first != 0x16 || second >= 0)) {
          refusePlaintext(raw);
        }
        throw new SSLException(first < 0 || (first == 0x16 && second < 0)
            ? "the client closed the connection before its handshake" : "it spoke plaintext to the TLS port");
      }
      var ssl = (SSLSocket) context.getSocketFactory().createSocket(raw,
          new java.io.ByteArrayInputStream(new byte[] {(byte) first, (byte) second}), true);
      ssl.setUseClientMode(false);
      var params = ssl.getSSLParameters();
      params.setProtocols(PemTls.PROTOCOLS);
      switch (files.clientAuth()) {
        case REQUIRE -> params.setNeedClientAuth(true);
        case REQUEST -> params.setWantClientAuth(true);
        case NONE -> params.setWantClientAuth(false);
      }
      ssl.setSSLParameters(params);
      long left = Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()));
      ssl.setSoTimeout((int) Math.min(Integer.MAX_VALUE, left));
      ssl.startHandshake();
      if (raw.isClosed()) {
        throw new SocketTimeoutException("the TLS handshake did not finish within " + timeout.toMillis()
            + " ms (client.handshake.timeout.ms)");
      }
      ssl.setSoTimeout(0);
      return ssl;
    } catch (IOException e) {
      if (raw.isClosed() && System.nanoTime() - deadline >= 0) {
        throw new SocketTimeoutException("the TLS handshake did not finish within " + timeout.toMillis()
            + " ms (client.handshake.timeout.ms)");
      }
      throw e;
    } finally {
      watchdog.cancel(false);
    }
  }

  /** The names (SAN DNS and CN) of the certificate a client presented; empty when it presented none. */
  static Set<String> peerNames(Socket socket) {
    return socket instanceof SSLSocket ssl ? PeerIdentity.names(ssl.getSession()) : Set.of();
  }

  /**
   * The client side, for the follower's link to the leader: presents this node's certificate and checks that the
   * leader's certificate chains to the CA and names the host connected to.
   */
  public SSLSocket connect(Socket raw, String host, int port, Duration timeout) throws IOException {
    return PemTls.handshake(context, raw, host, port, (int) timeout.toMillis());
  }

  /** Tells a plaintext kvraft client, in its own protocol, that this port needs TLS. */
  private void refusePlaintext(Socket raw) {
    try {
      var out = raw.getOutputStream();
      dev.kvraft.proto.Response.newBuilder().setError(dev.kvraft.proto.Error.newBuilder()
          .setCode(dev.kvraft.proto.Error.Code.PERMISSION_DENIED)
          .setMessage("this client port speaks TLS only: connect with TLS (kvsh --cacert CA.pem, KvClient.Builder.tls)"))
          .build().writeDelimitedTo(out);
      out.flush();
    } catch (IOException ignored) {
      // the client is gone; nothing to tell
    }
  }

  /** One phrase for a failed handshake, for the log: what the client did wrong. */
  static String describe(IOException e) {
    return e.getMessage() == null ? e.toString() : e.getMessage();
  }

  private static void closeQuietly(Socket s) {
    try {
      s.close();
    } catch (IOException ignored) {
      // closing a socket that overran its handshake deadline
    }
  }

  @Override
  public void close() {
    timer.shutdownNow();
  }
}
