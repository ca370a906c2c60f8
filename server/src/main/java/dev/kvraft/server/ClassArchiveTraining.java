package dev.kvraft.server;

import com.google.protobuf.ByteString;
import dev.kvraft.proto.Compare;
import dev.kvraft.proto.Consistency;
import dev.kvraft.proto.Delete;
import dev.kvraft.proto.Error;
import dev.kvraft.proto.Get;
import dev.kvraft.proto.Op;
import dev.kvraft.proto.Put;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import dev.kvraft.proto.Scan;
import dev.kvraft.proto.Txn;
import dev.kvraft.proto.Watch;
import dev.kvraft.server.config.ServerConfig;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.LongAdder;

/**
 * The training run behind the launchers' JVM archive ({@code bin/lib/common.sh}): started once per build, under
 * {@code -XX:AOTCacheOutput} on JDK 25 and later (the classes it loads, linked) or {@code -XX:ArchiveClassesAtExit}
 * before (the classes). It runs a three-node cluster in this one JVM, on free loopback ports in a temporary directory,
 * so that a leader's and a follower's classes are both in the archive; waits until every node answers; then drives
 * {@value #CONNECTIONS} connections spread over the nodes, each sending puts, linearizable and stale gets, scans,
 * deletes and transactions, ten at a time, while one watch per node streams every change, for the seconds given as the
 * first argument (default {@value #DEFAULT_SECONDS}). A node started with the archive maps those classes instead of
 * loading them from the jars. The launcher leaves the run's method profiles out of the AOT cache (BENCHMARKS.md, "The
 * JVM archive", says why). Not a command for people: exits 0 when the cluster answered, 1 (and no archive is used)
 * otherwise.
 */
public final class ClassArchiveTraining {
  static final double DEFAULT_SECONDS = 5;
  private static final int NODES = 3;
  private static final int CONNECTIONS = 60;
  private static final int KEYS = 10_000;
  private static final int WINDOW = 10;
  /** Until each node answers; with the load, the closes and the cache's assembly, well inside the launcher's 180 s. */
  private static final Duration START_WAIT = Duration.ofSeconds(30);

  private ClassArchiveTraining() {}

  public static void main(String[] args) throws Exception {
    double seconds = args.length > 0 ? Double.parseDouble(args[0]) : DEFAULT_SECONDS;
    var dir = Files.createTempDirectory("kvraft-class-archive-");
    // A run the launcher's timeout ends (SIGTERM) skips the finally below: the hook still removes the nodes' data.
    Runtime.getRuntime().addShutdownHook(new Thread(() -> delete(dir), "kvraft-training-cleanup"));
    var servers = new ArrayList<KvraftServer>();
    int code = 1;
    try {
      var ports = freePorts(2 * NODES);
      var cluster = new StringBuilder();
      for (int i = 0; i < NODES; i++) {
        cluster.append(i == 0 ? "" : ",").append("n").append(i + 1).append("=127.0.0.1:").append(ports.get(i))
            .append(':').append(ports.get(NODES + i));
      }
      for (int i = 0; i < NODES; i++) {
        servers.add(KvraftServer.start(ServerConfig.fromArgs("--node.id=n" + (i + 1), "--cluster=" + cluster,
            "--data.dir=" + dir.resolve("n" + (i + 1)), "--metrics.address=127.0.0.1:0")));
      }
      var counts = train(ports.subList(0, NODES), Duration.ofMillis((long) (seconds * 1000)));
      System.err.println("kvraft archive training: " + counts.answered() + " answers and " + counts.events()
          + " watch messages in " + seconds + " s; errors by code: " + counts.errors());
      long errors = counts.errors().values().stream().mapToLong(Long::longValue).sum();
      if (counts.answered() == 0 || errors * 100 > counts.answered()) {
        throw new IOException("more than 1% of the training's requests failed: " + counts.errors());
      }
      if (counts.events() == 0) {
        throw new IOException("the training's watches received no events");
      }
      code = 0;
    } catch (Exception e) {
      System.err.println("kvraft archive training failed: " + e);
      e.printStackTrace();
    } finally {
      for (var s : servers) {
        try {
          s.close(Duration.ofSeconds(10));
        } catch (RuntimeException e) {
          System.err.println("kvraft archive training: closing a node failed: " + e);
        }
      }
      delete(dir);
    }
    System.exit(code); // also when a node's threads would keep the JVM alive
  }

  private static void delete(java.nio.file.Path dir) {
    if (!Files.exists(dir)) {
      return;
    }
    try (var files = Files.walk(dir)) {
      files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException | RuntimeException e) {
      System.err.println("kvraft archive training: could not delete " + dir + ": " + e);
    }
  }

  /** What the load got back: answers (errors among them, by code) and watch messages. */
  private record Counts(long answered, long events, Map<Error.Code, Long> errors) {}

  /** Waits until every node answers a put (a cluster with a leader), then the load. */
  private static Counts train(List<Integer> clientPorts, Duration load) throws Exception {
    long deadline = System.nanoTime() + START_WAIT.toNanos();
    for (int port : clientPorts) {
      try (var c = new Conn(port)) {
        for (long id = 1; ; id++) {
          var answer = c.call(Request.newBuilder().setId(id).setPut(put("training-start", id)));
          if (!answer.hasError()) {
            break;
          }
          if (System.nanoTime() - deadline > 0) {
            throw new IOException("node on port " + port + " did not answer a put within " + START_WAIT + ": "
                + answer.getError().getMessage());
          }
          Thread.sleep(50); // no leader yet
        }
      }
    }
    var answered = new LongAdder();
    var events = new LongAdder();
    var errors = new ConcurrentHashMap<Error.Code, Long>();
    var watches = new ArrayList<Conn>();
    try (var threads = Executors.newVirtualThreadPerTaskExecutor()) {
      try {
        load(clientPorts, load, threads, watches, answered, errors, events);
      } finally {
        watches.forEach(Conn::close); // ends the drains, which the executor's close waits for
      }
    }
    return new Counts(answered.sum(), events.sum(), Map.copyOf(errors));
  }

  /** One watch per node over the training keys, then the connections' requests until {@code load} has passed. */
  private static void load(List<Integer> clientPorts, Duration load, ExecutorService threads, List<Conn> watches,
      LongAdder answered, Map<Error.Code, Long> errors, LongAdder events) throws IOException, InterruptedException {
    for (int port : clientPorts) {
      var w = new Conn(port);
      watches.add(w);
      var created = w.call(Request.newBuilder().setId(1).setWatch(Watch.newBuilder().setKey(utf8("training-"))
          .setRangeEnd(utf8("training."))));
      if (!created.hasWatch() || !created.getWatch().getCreated()) {
        throw new IOException("node on port " + port + " did not create the training's watch: " + created);
      }
      threads.submit(() -> w.drain(events));
    }
    long end = System.nanoTime() + load.toNanos();
    var workers = new ArrayList<Future<?>>();
    for (int i = 0; i < CONNECTIONS; i++) {
      int port = clientPorts.get(i % clientPorts.size());
      long seed = i;
      workers.add(threads.submit(() -> {
        work(port, seed, end, answered, errors);
        return null;
      }));
    }
    for (var w : workers) {
      try {
        w.get();
      } catch (ExecutionException e) {
        throw new IOException("a training connection failed: " + e.getCause(), e.getCause());
      }
    }
  }

  /**
   * One connection's requests until {@code end}, {@value #WINDOW} at a time (sent together, then their answers read),
   * so that nodes batch as they do under load: mostly puts and gets, now and then a scan, a delete or a txn.
   */
  private static void work(int port, long seed, long end, LongAdder answered, Map<Error.Code, Long> errors)
      throws IOException {
    var random = new SplittableRandom(seed);
    var value = new byte[256];
    try (var c = new Conn(port)) {
      for (long id = 1; System.nanoTime() - end < 0; ) {
        for (int i = 0; i < WINDOW; i++, id++) {
          c.write(request(id, utf8(String.format("training-%05d", random.nextInt(KEYS))), random, value));
        }
        c.flush();
        for (int i = 0; i < WINDOW; i++) {
          var r = c.read();
          answered.increment();
          if (r.hasError()) {
            errors.merge(r.getError().getCode(), 1L, Long::sum);
          }
        }
      }
    }
  }

  private static Request.Builder request(long id, ByteString key, SplittableRandom random, byte[] value) {
    var r = Request.newBuilder().setId(id);
    return switch ((int) (id % 10)) {
      case 0, 1, 2, 3 -> {
        random.nextBytes(value);
        yield r.setPut(Put.newBuilder().setKey(key).setValue(ByteString.copyFrom(value)));
      }
      case 4, 5, 6 -> r.setGet(Get.newBuilder().setKey(key));
      case 7, 8 -> r.setGet(Get.newBuilder().setKey(key).setConsistency(Consistency.STALE));
      default -> switch ((int) (id / 10 % 3)) {
        case 0 -> r.setScan(Scan.newBuilder().setStart(key).setEnd(utf8("training.")).setLimit(10));
        case 1 -> r.setDelete(Delete.newBuilder().setKey(key));
        default -> r.setTxn(Txn.newBuilder()
            .addCompare(Compare.newBuilder().setKey(key).setTarget(Compare.Target.VERSION)
                .setOperator(Compare.Operator.GREATER).setVersion(0))
            .addSuccess(Op.newBuilder().setPut(Put.newBuilder().setKey(key).setValue(utf8("txn"))))
            .addFailure(Op.newBuilder().setGet(Get.newBuilder().setKey(key))));
      };
    };
  }

  /** A client connection: length-delimited requests and responses. */
  private static final class Conn implements AutoCloseable {
    private final Socket socket = new Socket();
    private final InputStream in;
    private final OutputStream out;

    Conn(int port) throws IOException {
      socket.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 5_000);
      socket.setSoTimeout(30_000);
      socket.setTcpNoDelay(true);
      in = new BufferedInputStream(socket.getInputStream());
      out = new BufferedOutputStream(socket.getOutputStream());
    }

    void write(Request.Builder request) throws IOException {
      request.build().writeDelimitedTo(out);
    }

    void flush() throws IOException {
      out.flush();
    }

    Response read() throws IOException {
      var response = Response.parseDelimitedFrom(in);
      if (response == null) {
        throw new IOException("the server closed the connection");
      }
      return response;
    }

    Response call(Request.Builder request) throws IOException {
      write(request);
      flush();
      return read();
    }

    /** A watch's messages, counted, until the connection closes. */
    Void drain(LongAdder events) {
      try {
        while (Response.parseDelimitedFrom(in) != null) {
          events.increment();
        }
      } catch (IOException closed) {
        // close() ended it
      }
      return null;
    }

    @Override
    public void close() {
      try {
        socket.close();
      } catch (IOException ignored) {
        // nothing to release
      }
    }
  }

  private static Put.Builder put(String key, long value) {
    return Put.newBuilder().setKey(utf8(key)).setValue(utf8(Long.toString(value)));
  }

  private static ByteString utf8(String s) {
    return ByteString.copyFromUtf8(s);
  }

  /** {@code n} distinct free loopback ports (held open together, so none repeats). */
  private static List<Integer> freePorts(int n) throws IOException {
    var sockets = new ArrayList<ServerSocket>();
    try {
      for (int i = 0; i < n; i++) {
        sockets.add(new ServerSocket(0, 1, InetAddress.getLoopbackAddress()));
      }
      return sockets.stream().map(ServerSocket::getLocalPort).toList();
    } finally {
      for (var s : sockets) {
        s.close();
      }
    }
  }
}
