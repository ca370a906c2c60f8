package dev.kvraft.server;

import com.google.protobuf.ByteString;
import dev.kvraft.proto.Get;
import dev.kvraft.proto.Put;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import dev.kvraft.proto.Scan;
import dev.kvraft.server.config.ServerConfig;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.time.Duration;
import java.util.Comparator;

/**
 * The training run behind the launchers' class-data-sharing archive ({@code bin/lib/common.sh}): started once per
 * build under {@code -XX:ArchiveClassesAtExit}, it runs a one-node server on free loopback ports in a temporary
 * directory, waits until it leads, sends it a few puts, gets and scans over a client connection, stops it and exits,
 * so that the JVM archives the classes a node loads to start and to serve. A node started with the archive maps
 * those classes instead of loading them from the jars. Not a command for people: exits 0 when the server answered,
 * 1 (and no archive is used) otherwise.
 */
public final class ClassArchiveTraining {
  private static final Duration LEADER_WAIT = Duration.ofSeconds(30);

  private ClassArchiveTraining() {}

  public static void main(String[] args) throws Exception {
    var dir = Files.createTempDirectory("kvraft-class-archive-");
    int code = 1;
    try {
      int client = freePort();
      int raft = freePort();
      var config = ServerConfig.fromArgs("--node.id=n1", "--cluster=n1=127.0.0.1:" + client + ":" + raft,
          "--data.dir=" + dir.resolve("n1"), "--metrics.address=127.0.0.1:0",
          "--raft.election.timeout.min.ms=300", "--raft.election.timeout.max.ms=600");
      try (var server = KvraftServer.start(config)) {
        train(client);
        server.close(Duration.ofSeconds(10));
      }
      code = 0;
    } catch (Exception e) {
      System.err.println("kvraft class-archive training failed: " + e);
    } finally {
      try (var files = Files.walk(dir)) {
        files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
    System.exit(code);
  }

  /** Puts until the node leads (a put fails with UNAVAILABLE before), then a few more requests of each kind. */
  private static void train(int port) throws IOException, InterruptedException {
    try (var socket = new Socket()) {
      socket.connect(new InetSocketAddress("127.0.0.1", port), 5_000);
      socket.setSoTimeout(10_000);
      socket.setTcpNoDelay(true);
      var in = new java.io.BufferedInputStream(socket.getInputStream());
      var out = new java.io.BufferedOutputStream(socket.getOutputStream());
      long id = 0;
      long deadline = System.nanoTime() + LEADER_WAIT.toNanos();
      while (true) {
        var answer = call(in, out, Request.newBuilder().setId(++id).setPut(put("training", id)));
        if (!answer.hasError()) {
          break;
        }
        if (System.nanoTime() - deadline > 0) {
          throw new IOException("no answer to a put within " + LEADER_WAIT + ": " + answer.getError().getMessage());
        }
        Thread.sleep(50); // no leader yet: one-node elections take one election timeout
      }
      for (int i = 0; i < 200; i++) {
        call(in, out, Request.newBuilder().setId(++id).setPut(put("training-" + (i % 20), i)));
        call(in, out, Request.newBuilder().setId(++id).setGet(Get.newBuilder().setKey(utf8("training-" + i % 20))));
        call(in, out, Request.newBuilder().setId(++id).setScan(Scan.newBuilder().setStart(utf8("training"))
            .setLimit(10)));
      }
    }
  }

  private static Put.Builder put(String key, long value) {
    return Put.newBuilder().setKey(utf8(key)).setValue(utf8(Long.toString(value)));
  }

  private static Response call(java.io.InputStream in, java.io.OutputStream out, Request.Builder request)
      throws IOException {
    request.build().writeDelimitedTo(out);
    out.flush();
    var response = Response.parseDelimitedFrom(in);
    if (response == null) {
      throw new IOException("the server closed the connection");
    }
    return response;
  }

  private static ByteString utf8(String s) {
    return ByteString.copyFromUtf8(s);
  }

  private static int freePort() throws IOException {
    try (var s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }
}
