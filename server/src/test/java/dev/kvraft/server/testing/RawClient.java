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
    socket = new Socket();
    socket.connect(new InetSocketAddress("127.0.0.1", port), 2000);
    socket.setSoTimeout((int) Duration.ofSeconds(15).toMillis());
    socket.setTcpNoDelay(true);
    out = new BufferedOutputStream(socket.getOutputStream());
    in = new BufferedInputStream(socket.getInputStream());
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
}
