package dev.kvraft.client;

import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import dev.kvraft.testkit.FreePorts;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Function;

/**
 * A stand-in for a node, for client behaviour a real cluster cannot be made to show on cue: it answers each request
 * with what {@code answer} returns for it ({@code null}: no answer at all). Its accept thread
 * ({@code fake-node-PORT}) and one thread per connection ({@code fake-node-PORT-conn}) are its own; {@link #close}
 * ends them and every connection.
 */
final class FakeNode implements AutoCloseable {
  private final ServerSocket server;
  private final Function<Request, Response> answer;
  private final List<Socket> sockets = new CopyOnWriteArrayList<>();
  /** Every request received, in order. */
  final List<Request> received = new CopyOnWriteArrayList<>();

  FakeNode(Function<Request, Response> answer) throws IOException {
    this.answer = answer;
    this.server = new ServerSocket(FreePorts.take(1).get(0), 50, InetAddress.getLoopbackAddress());
    Thread.ofVirtual().name("fake-node-" + server.getLocalPort()).start(this::accept);
  }

  String address() {
    return "127.0.0.1:" + server.getLocalPort();
  }

  private void accept() {
    try {
      while (true) {
        var s = server.accept();
        sockets.add(s);
        Thread.ofVirtual().name("fake-node-" + server.getLocalPort() + "-conn").start(() -> serve(s));
      }
    } catch (IOException closed) {
      // close() ended it
    }
  }

  private void serve(Socket s) {
    try (s) {
      var in = s.getInputStream();
      var out = s.getOutputStream();
      Request r;
      while ((r = Request.parseDelimitedFrom(in)) != null) {
        received.add(r);
        var a = answer.apply(r);
        if (a != null) {
          a.toBuilder().setId(r.getId()).build().writeDelimitedTo(out);
          out.flush();
        }
      }
    } catch (IOException closed) {
      // the client or close() ended it
    }
  }

  @Override
  public void close() throws IOException {
    server.close();
    for (var s : sockets) {
      s.close();
    }
  }
}
