package dev.kvraft.server.testing;

import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;

/** A bare protocol client for server tests: writes frames (or raw bytes) and reads responses, nothing more. */
public final class RawClient implements AutoCloseable {
  private final Socket socket;
  private final OutputStream out;
  private final InputStream in;

  public RawClient(int port) throws IOException {
    this(port, null);
  }

  /**
   * With {@code tls} non-null: a TLS handshake first, checking that the server's certificate names 127.0.0.1. A
   * refused handshake throws here (TLS 1.2) or surfaces at the first read (TLS 1.3 reports a refused client
   * certificate after the client's side of the handshake is done).
   */
  public RawClient(int port, javax.net.ssl.SSLContext tls) throws IOException {
    this(port, tls, null);
  }

  /** A plaintext client whose connection comes from {@code from} (another loopback address: 127.0.0.2, say). */
  public static RawClient from(String from, int port) throws IOException {
    return new RawClient(port, null, from);
  }

  private RawClient(int port, javax.net.ssl.SSLContext tls, String from) throws IOException {
    var tcp = new Socket();
    if (from != null) {
      tcp.bind(new InetSocketAddress(from, 0));
    }
    tcp.connect(new InetSocketAddress("127.0.0.1", port), 2000);
    tcp.setSoTimeout((int) Duration.ofSeconds(15).toMillis());
    tcp.setTcpNoDelay(true);
    if (tls != null) {
      try {
        socket = dev.kvraft.proto.PemTls.handshake(tls, tcp, "127.0.0.1", port, tcp.getSoTimeout());
      } catch (IOException e) {
        tcp.close();
        throw e;
      }
    } else {
      socket = tcp;
    }
    out = new BufferedOutputStream(socket.getOutputStream());
    in = new BufferedInputStream(socket.getInputStream());
  }

  /**
   * A client of {@code server}'s port: over TLS with the node's own certificate (a member's) when the node runs TLS,
   * else plaintext.
   */
  public static RawClient to(dev.kvraft.server.KvraftServer server) throws IOException {
    var tls = server.config().tls();
    return new RawClient(server.clientPort(), tls.isPresent() ? tls.get().pem().context() : null);
  }

  /** The socket, for tests that look at the TLS session. */
  public Socket socket() {
    return socket;
  }

  public void send(Request r) throws IOException {
    r.writeDelimitedTo(out);
    out.flush();
  }

  /** Queues a request without flushing, to pipeline many in few packets. */
  public void write(Request r) throws IOException {
    r.writeDelimitedTo(out);
  }

  public void flush() throws IOException {
    out.flush();
  }

  public void sendRaw(byte[] bytes) throws IOException {
    out.write(bytes);
    out.flush();
  }

  /** The next response, or null when the server closed the connection. */
  public Response read() throws IOException {
    return Response.parseDelimitedFrom(in);
  }

  public Response call(Request r) throws IOException {
    send(r);
    return read();
  }

  @Override
  public void close() throws IOException {
    socket.close();
  }

  /**
   * Reads raw bytes from {@code s} until the server closes it (true: an end of stream or a reset) or the socket's read
   * timeout passes (false). Whatever comes first (a refusal frame, TLS records or alerts) is read past.
   */
  public static boolean closedByServer(Socket s) {
    try {
      var in = s.getInputStream();
      var buf = new byte[4096];
      while (in.read(buf) >= 0) {
        // read on to the end
      }
      return true;
    } catch (java.net.SocketTimeoutException e) {
      return false;
    } catch (IOException e) {
      return true; // reset by the server
    }
  }
}
