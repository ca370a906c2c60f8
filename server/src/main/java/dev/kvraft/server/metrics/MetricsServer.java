package dev.kvraft.server.metrics;

import io.prometheus.metrics.exporter.common.PrometheusHttpExchange;
import io.prometheus.metrics.exporter.common.PrometheusHttpRequest;
import io.prometheus.metrics.exporter.common.PrometheusHttpResponse;
import io.prometheus.metrics.exporter.common.PrometheusScrapeHandler;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.BufferedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Enumeration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves /metrics (Prometheus text, by the Prometheus client's {@link PrometheusScrapeHandler}), /health and /ready
 * on one address, one request per connection, so that no client of this port can hurt the node or the probes:
 * <ul>
 *   <li>at most {@value #MAX_CONNECTIONS} connections at a time (each a file descriptor the node needs for Raft,
 *       SQLite and clients); past them a new one is closed at once;
 *   <li>a request's head must arrive within {@value #HEAD_TIMEOUT_MS} ms and {@value #MAX_HEAD_BYTES} bytes
 *       (else the connection is closed, or answered 431), and the whole exchange, answer written, within
 *       {@value #EXCHANGE_TIMEOUT_MS} ms (a client that stops reading is closed);
 *   <li>heads are read on a virtual thread per connection ({@code kvraft-metrics-conn-N}), so a stalled client holds
 *       no worker; at most {@value #RENDERERS} scrapes render at a time, and one that waits
 *       {@value #RENDER_WAIT_MS} ms for its turn is answered 503.
 * </ul>
 * (The JDK's {@code HttpServer} it replaces read request heads on its two worker threads with no deadline: two
 * connections that sent half a request line stopped every scrape and probe for as long as they stayed open.)
 *
 * <p>Owns the listening socket (the {@code kvraft-metrics-accept} thread accepts), the open connections (each socket
 * with its thread) and their deadlines ({@code kvraft-metrics-deadline} closes the late ones). Reads only volatile
 * views of the node.
 *
 * <p>{@link #close} ends it in an order that leaves nothing behind: it closes the listening socket, which ends the
 * accept loop, and waits for the accept thread to end; only then, when no connection can be added any more, it closes
 * every open connection (and interrupts its thread, which may wait for a rendering slot) and stops the deadline
 * thread. (It used to stop the deadline thread without waiting: a connection accepted just before the close then
 * had its deadline refused by the stopped executor, and the accept thread died of the
 * {@code RejectedExecutionException}.)
 */
public final class MetricsServer implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(MetricsServer.class);

  static final int MAX_CONNECTIONS = 64;
  static final int HEAD_TIMEOUT_MS = 2_000;
  static final int MAX_HEAD_BYTES = 16 * 1024;
  static final int EXCHANGE_TIMEOUT_MS = 10_000;
  static final int RENDERERS = 2;
  static final int RENDER_WAIT_MS = 5_000;

  private final ServerSocket listener;
  private final PrometheusScrapeHandler scrape;
  private final HealthSource health;
  private final Semaphore connections = new Semaphore(MAX_CONNECTIONS);
  private final Semaphore renderers = new Semaphore(RENDERERS);
  /** Each open connection's socket and the thread that serves it (not started yet while the accept thread adds it). */
  private final Map<Socket, Thread> open = new ConcurrentHashMap<>();
  private final ScheduledThreadPoolExecutor deadlines;
  private final AtomicLong connectionIds = new AtomicLong();
  private final Thread acceptor;
  /** Runs on the accept thread for each connection it hands on, just before its deadline is set: for tests. */
  private final Runnable accepted;
  private volatile boolean closed;

  /** How long {@link #close} waits for the accept thread (which waits only in accept, or 100 ms after a failure). */
  static final long ACCEPTOR_JOIN_MS = 5_000;

  private MetricsServer(ServerSocket listener, PrometheusRegistry registry, HealthSource health, Runnable accepted) {
    this.listener = listener;
    this.accepted = accepted;
    this.scrape = new PrometheusScrapeHandler(registry);
    this.health = health;
    this.deadlines = new ScheduledThreadPoolExecutor(1, r -> {
      var t = new Thread(r, "kvraft-metrics-deadline");
      t.setDaemon(true);
      return t;
    });
    deadlines.setRemoveOnCancelPolicy(true);
    this.acceptor = Thread.ofPlatform().name("kvraft-metrics-accept").daemon(true).unstarted(this::acceptLoop);
  }

  public static MetricsServer start(MetricsAddress address, PrometheusRegistry registry, HealthSource health)
      throws IOException {
    return start(address, registry, health, () -> { });
  }

  /**
   * {@link #start(MetricsAddress, PrometheusRegistry, HealthSource)}, with {@code accepted} run on the accept thread
   * for each connection it hands on, before the connection's deadline is set: for tests.
   */
  static MetricsServer start(MetricsAddress address, PrometheusRegistry registry, HealthSource health,
      Runnable accepted) throws IOException {
    var socket = new ServerSocket();
    try {
      socket.setReuseAddress(true);
      socket.bind(new InetSocketAddress(address.host(), address.port()), MAX_CONNECTIONS);
    } catch (IOException | RuntimeException e) {
      socket.close();
      throw new IOException("cannot serve metrics on " + address.host() + ":" + address.port()
          + ": " + e.getMessage() + "; change metrics.address or set it empty to turn metrics off", e);
    }
    var server = new MetricsServer(socket, registry, health, accepted);
    server.acceptor.start();
    return server;
  }

  public int port() {
    return listener.getLocalPort();
  }

  @Override
  public void close() {
    closed = true;
    try {
      listener.close();
    } catch (IOException ignored) {
      // closing anyway
    }
    // The accept loop sees the close and adds no connection after it: then none can escape the loop below, and none
    // asks the deadline executor for a deadline after it is stopped.
    if (Thread.currentThread() != acceptor) {
      try {
        acceptor.join(ACCEPTOR_JOIN_MS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      if (acceptor.isAlive()) {
        LOG.warn("metrics port: the accept thread did not end within {} ms of the close; connections it accepts"
            + " from now on are closed at once", ACCEPTOR_JOIN_MS);
      }
    }
    open.forEach((s, t) -> {
      closeQuietly(s);
      t.interrupt(); // one waiting for a rendering slot ends now, not after RENDER_WAIT_MS
    });
    deadlines.shutdownNow();
  }

  // ---- kvraft-metrics-accept ----

  private void acceptLoop() {
    while (!closed) {
      Socket s;
      try {
        s = listener.accept();
      } catch (IOException e) {
        if (closed) {
          return;
        }
        // Out of file descriptors, most likely: wait a little rather than spin.
        LOG.debug("metrics port: accept failed ({}); retrying in 100 ms", e.toString());
        sleep(100);
        continue;
      }
      if (!connections.tryAcquire()) {
        closeQuietly(s); // MAX_CONNECTIONS open: this one gets nothing
        continue;
      }
      var deadline = new AtomicReference<ScheduledFuture<?>>(); // set before the thread starts
      var thread = Thread.ofVirtual().name("kvraft-metrics-conn-" + connectionIds.incrementAndGet()).unstarted(() -> {
        try {
          serve(s);
        } catch (IOException | RuntimeException e) {
          LOG.debug("metrics connection {}: {}", s.getRemoteSocketAddress(), e.toString());
        } finally {
          deadline.get().cancel(false);
          release(s);
        }
      });
      open.put(s, thread);
      if (closed) {
        release(s);
        return;
      }
      accepted.run();
      try {
        deadline.set(deadlines.schedule(() -> closeQuietly(s), EXCHANGE_TIMEOUT_MS, TimeUnit.MILLISECONDS));
      } catch (RejectedExecutionException e) {
        // Only after close() gave up waiting for this thread: the connection is not served.
        release(s);
        return;
      }
      thread.start();
    }
  }

  private void release(Socket s) {
    closeQuietly(s);
    if (open.remove(s) != null) {
      connections.release();
    }
  }

  private static void closeQuietly(Socket s) {
    try {
      s.close();
    } catch (IOException ignored) {
      // nothing to do
    }
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  // ---- one connection, on its virtual thread ----

  private record Head(String method, String path, String query, Map<String, List<String>> headers) {}

  /** Thrown when the head grew past {@link #MAX_HEAD_BYTES}. */
  private static final class HeadTooLarge extends IOException {
    HeadTooLarge() {
      super("request head over " + MAX_HEAD_BYTES + " bytes");
    }
  }

  private void serve(Socket s) throws IOException {
    Head head;
    try {
      head = readHead(s);
    } catch (HeadTooLarge e) {
      var out = s.getOutputStream();
      plain(out, 431, "Request Header Fields Too Large", "request head over " + MAX_HEAD_BYTES + " bytes\n");
      drainAndClose(s);
      return;
    } catch (SocketTimeoutException e) {
      return; // the head did not come in time: closed
    }
    if (head == null) {
      return; // closed, or not HTTP
    }
    var out = new BufferedOutputStream(s.getOutputStream(), 8192);
    if (!head.method().equals("GET") && !head.method().equals("HEAD")) {
      plain(out, 405, "Method Not Allowed", "only GET and HEAD\n");
      out.flush();
      return;
    }
    if (head.path().equals("/metrics")) {
      metrics(head, out);
    } else {
      probe(head, out);
    }
    out.flush();
  }

  /**
   * Reads the request line and headers within {@link #HEAD_TIMEOUT_MS} in all (however slowly the bytes come) and
   * {@link #MAX_HEAD_BYTES}; null when the client closed first or sent something else than a request.
   */
  private static Head readHead(Socket s) throws IOException {
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(HEAD_TIMEOUT_MS);
    InputStream in = s.getInputStream();
    var head = new ByteArrayOutputStream(512);
    var buf = new byte[1024];
    boolean lastWasNewline = false; // the head ends with an empty line: "\r\n\r\n", or a bare "\n\n"
    while (true) {
      long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
      if (left <= 0) {
        throw new SocketTimeoutException("request head not received within " + HEAD_TIMEOUT_MS + " ms");
      }
      s.setSoTimeout((int) Math.max(1, left));
      int n = in.read(buf, 0, Math.min(buf.length, MAX_HEAD_BYTES + 1 - head.size()));
      if (n < 0) {
        return null;
      }
      for (int i = 0; i < n; i++) {
        byte b = buf[i];
        head.write(b);
        if (b == '\n') {
          if (lastWasNewline) {
            if (i + 1 < n) {
              // A request with a body, or pipelined: this server answers one request per connection and ignores it.
              LOG.debug("metrics connection {}: {} bytes after the head ignored", s.getRemoteSocketAddress(), n - i - 1);
            }
            return parse(head.toString(StandardCharsets.ISO_8859_1));
          }
          lastWasNewline = true;
        } else if (b != '\r') {
          lastWasNewline = false;
        }
      }
      if (head.size() > MAX_HEAD_BYTES) {
        throw new HeadTooLarge();
      }
    }
  }

  private static Head parse(String text) {
    var lines = text.split("\r?\n");
    var parts = lines[0].split(" ");
    if (parts.length != 3 || !parts[2].startsWith("HTTP/")) {
      return null;
    }
    var target = parts[1];
    int q = target.indexOf('?');
    var path = q < 0 ? target : target.substring(0, q);
    var query = q < 0 ? "" : target.substring(q + 1);
    var headers = new HashMap<String, List<String>>();
    for (int i = 1; i < lines.length; i++) {
      int colon = lines[i].indexOf(':');
      if (colon > 0) {
        headers.computeIfAbsent(lines[i].substring(0, colon).trim().toLowerCase(Locale.ROOT), k -> new ArrayList<>())
            .add(lines[i].substring(colon + 1).trim());
      }
    }
    return new Head(parts[0], path, query, headers);
  }

  /** After an error answer while the client may still be sending: read what it sent (bounded) so close is a FIN. */
  private static void drainAndClose(Socket s) {
    try {
      s.shutdownOutput();
      s.setSoTimeout(500);
      var in = s.getInputStream();
      var buf = new byte[8192];
      long left = 1L << 20;
      int n;
      while (left > 0 && (n = in.read(buf)) > 0) {
        left -= n;
      }
    } catch (IOException ignored) {
      // closing anyway
    } finally {
      closeQuietly(s);
    }
  }

  private void metrics(Head head, OutputStream out) throws IOException {
    boolean turn;
    try {
      turn = renderers.tryAcquire(RENDER_WAIT_MS, TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return;
    }
    if (!turn) {
      plain(out, 503, "Service Unavailable", RENDERERS + " scrapes are rendering and this one waited "
          + RENDER_WAIT_MS + " ms for its turn; scrape less often\n");
      return;
    }
    try {
      scrape.handleRequest(new Exchange(head, out));
    } finally {
      renderers.release();
    }
  }

  private void probe(Head head, OutputStream out) throws IOException {
    int code;
    String body;
    if (head.path().equals("/health")) {
      var reason = health.unhealthyReason();
      code = reason == null ? 200 : 503;
      body = reason == null ? "{\"status\":\"ok\"}\n" : "{\"status\":\"unhealthy\",\"reason\":\"" + escape(reason)
          + "\"}\n";
    } else if (head.path().equals("/ready")) {
      code = health.ready() ? 200 : 503;
      body = code == 200 ? "{\"status\":\"ready\"}\n" : "{\"status\":\"not ready\"}\n";
    } else {
      code = 404;
      body = "{\"status\":\"not found\",\"paths\":[\"/metrics\",\"/health\",\"/ready\"]}\n";
    }
    var bytes = body.getBytes(StandardCharsets.UTF_8);
    writeHead(out, code, reason(code), Map.of("Content-Type", "application/json"), bytes.length);
    if (!head.method().equals("HEAD")) {
      out.write(bytes);
    }
  }

  private static String reason(int code) {
    return switch (code) {
      case 200 -> "OK";
      case 400 -> "Bad Request";
      case 404 -> "Not Found";
      case 406 -> "Not Acceptable";
      case 500 -> "Internal Server Error";
      case 503 -> "Service Unavailable";
      default -> "Status";
    };
  }

  private static void plain(OutputStream out, int code, String reason, String body) throws IOException {
    var bytes = body.getBytes(StandardCharsets.UTF_8);
    writeHead(out, code, reason, Map.of("Content-Type", "text/plain; charset=utf-8"), bytes.length);
    out.write(bytes);
    out.flush();
  }

  /** The status line and headers; {@code length} below 0: none given (the body ends when the connection closes). */
  private static void writeHead(OutputStream out, int code, String reason, Map<String, String> headers, long length)
      throws IOException {
    var sb = new StringBuilder("HTTP/1.1 ").append(code).append(' ').append(reason).append("\r\n");
    headers.forEach((k, v) -> {
      // The Prometheus handler sets Content-Length itself as well: it goes out once (strict clients refuse two).
      if (length < 0 || !k.equalsIgnoreCase("Content-Length")) {
        sb.append(k).append(": ").append(v).append("\r\n");
      }
    });
    if (length >= 0) {
      sb.append("Content-Length: ").append(length).append("\r\n");
    }
    sb.append("Connection: close\r\n\r\n");
    out.write(sb.toString().getBytes(StandardCharsets.ISO_8859_1));
  }

  private static String escape(String s) {
    return s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", " ");
  }

  /** One scrape, as the Prometheus client's handler sees it. */
  private static final class Exchange implements PrometheusHttpExchange {
    private final Head head;
    private final OutputStream out;
    private final Map<String, String> responseHeaders = new LinkedHashMap<>();
    private boolean sent;

    Exchange(Head head, OutputStream out) {
      this.head = head;
      this.out = out;
    }

    @Override
    public PrometheusHttpRequest getRequest() {
      return new PrometheusHttpRequest() {
        @Override
        public String getQueryString() {
          return head.query().isEmpty() ? null : head.query();
        }

        @Override
        public Enumeration<String> getHeaders(String name) {
          var values = head.headers().get(name.toLowerCase(Locale.ROOT));
          return values == null ? null : Collections.enumeration(values);
        }

        @Override
        public String getMethod() {
          return head.method();
        }

        @Override
        public String getRequestPath() {
          return URLDecoder.decode(head.path(), StandardCharsets.UTF_8);
        }
      };
    }

    @Override
    public PrometheusHttpResponse getResponse() {
      return new PrometheusHttpResponse() {
        @Override
        public void setHeader(String name, String value) {
          responseHeaders.put(name, value);
        }

        @Override
        public OutputStream sendHeadersAndGetBody(int statusCode, int contentLength) throws IOException {
          sent = true;
          writeHead(out, statusCode, reason(statusCode), responseHeaders,
              contentLength > 0 ? contentLength : -1);
          if (head.method().equals("HEAD")) {
            return OutputStream.nullOutputStream();
          }
          return new java.io.FilterOutputStream(out) {
            @Override
            public void write(byte[] b, int off, int len) throws IOException {
              out.write(b, off, len);
            }

            @Override
            public void close() throws IOException {
              out.flush(); // the connection closes after the exchange, not here
            }
          };
        }
      };
    }

    @Override
    public void handleException(IOException e) throws IOException {
      throw e;
    }

    @Override
    public void handleException(RuntimeException e) {
      LOG.warn("rendering /metrics failed: {}", e.toString(), e);
      if (!sent) {
        try {
          plain(out, 500, "Internal Server Error", "rendering the metrics failed: " + e + "\n");
        } catch (IOException ignored) {
          // the client left
        }
      }
    }

    @Override
    public void close() {
      try {
        out.flush();
      } catch (IOException ignored) {
        // the client left
      }
    }
  }
}
