package dev.kvraft.server.metrics;

import static org.junit.jupiter.api.Assertions.*;

import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import org.junit.jupiter.api.Test;

class MetricsServerTest {
  private volatile String reason = "no leader";
  private volatile boolean ready;

  private final HealthSource health = new HealthSource() {
    @Override public String unhealthyReason() { return reason; }
    @Override public boolean ready() { return ready; }
  };

  private static HttpResponse<String> get(int port, String path) throws Exception {
    try (var c = HttpClient.newHttpClient()) {
      return c.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).build(),
          HttpResponse.BodyHandlers.ofString());
    }
  }

  @Test
  void scrapeShowsRecordedRequestsAndProbesFollowState() throws Exception {
    var registry = new PrometheusRegistry();
    var metrics = new KvMetrics(registry, List.of("GET", "PUT"), List.of("OK", "NOT_LEADER"));
    try (var server = MetricsServer.start(new MetricsAddress("127.0.0.1", 0), registry, health)) {
      metrics.request(1, 0, 2_000_000);
      metrics.request(1, 0, 3_000_000);
      var body = get(server.port(), "/metrics").body();
      assertTrue(body.contains("kvraft_requests_total{command=\"PUT\",result=\"OK\"} 2.0"), body);
      assertTrue(body.contains("kvraft_request_duration_seconds_count{command=\"PUT\"} 2"), body);

      var h = get(server.port(), "/health");
      assertEquals(503, h.statusCode());
      assertEquals("{\"status\":\"unhealthy\",\"reason\":\"no leader\"}\n", h.body());
      assertEquals(503, get(server.port(), "/ready").statusCode());
      reason = null;
      ready = true;
      assertEquals(200, get(server.port(), "/health").statusCode());
      assertEquals(200, get(server.port(), "/ready").statusCode());
    }
  }

  /**
   * Hostile clients on the metrics port: connections that send the start of a request and stall, one whose headers
   * never end, and a crowd of idle ones. None may keep /health from answering, and the stalled ones are closed.
   * (The JDK's server read request heads on its two worker threads with no deadline: two stalled connections
   * stopped every scrape and probe until they went away.)
   */
  @Test
  void stalledAndHostileConnectionsDoNotStopProbes() throws Exception {
    reason = null;
    var registry = new PrometheusRegistry();
    try (var server = MetricsServer.start(new MetricsAddress("127.0.0.1", 0), registry, health)) {
      var stalled = new java.util.ArrayList<java.net.Socket>();
      try {
        for (int i = 0; i < 4; i++) {
          var s = new java.net.Socket("127.0.0.1", server.port());
          s.getOutputStream().write("GET /metr".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
          s.getOutputStream().flush();
          stalled.add(s);
        }
        var huge = new java.net.Socket("127.0.0.1", server.port());
        stalled.add(huge);
        huge.getOutputStream().write(("GET /health HTTP/1.1\r\nX-Big: " + "x".repeat(64 * 1024) + "\r\n")
            .getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        huge.getOutputStream().flush();
        for (int i = 0; i < 50; i++) {
          stalled.add(new java.net.Socket("127.0.0.1", server.port()));
        }
        try (var c = HttpClient.newHttpClient()) {
          var h = c.sendAsync(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/health"))
              .timeout(java.time.Duration.ofSeconds(3)).build(), HttpResponse.BodyHandlers.ofString())
              .get(4, java.util.concurrent.TimeUnit.SECONDS);
          assertEquals(200, h.statusCode(), "a probe is answered while others stall");
        }
        // The one whose head grew past the bound is refused; the stalled ones are closed at their deadline.
        huge.setSoTimeout(5_000);
        var answer = new String(huge.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.US_ASCII);
        assertTrue(answer.startsWith("HTTP/1.1 431"), answer);
        for (var s : stalled.subList(0, 4)) {
          s.setSoTimeout(MetricsServer.HEAD_TIMEOUT_MS + 5_000);
          assertEquals(-1, s.getInputStream().read(), "a stalled request is closed");
        }
      } finally {
        for (var s : stalled) {
          s.close();
        }
      }
    }
  }

  /**
   * A plain (not gzipped) scrape: the Prometheus handler sets Content-Length itself, and the answer must carry it
   * once (two are rejected by strict clients: Netty, Node's llhttp). With gzip and on HEAD there is at most one too.
   */
  @Test
  void scrapeAnswerHasOneContentLength() throws Exception {
    var registry = new PrometheusRegistry();
    new KvMetrics(registry, List.of("GET", "PUT"), List.of("OK", "NOT_LEADER"));
    try (var server = MetricsServer.start(new MetricsAddress("127.0.0.1", 0), registry, health)) {
      for (var req : List.of("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: text/plain\r\n\r\n",
          "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n",
          "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n")) {
        try (var s = new java.net.Socket("127.0.0.1", server.port())) {
          s.setSoTimeout(5_000);
          s.getOutputStream().write(req.getBytes(java.nio.charset.StandardCharsets.US_ASCII));
          s.getOutputStream().flush();
          var answer = new String(s.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.ISO_8859_1);
          var head = answer.substring(0, answer.indexOf("\r\n\r\n"));
          assertTrue(head.startsWith("HTTP/1.1 200 "), head);
          long lengths = head.lines().filter(l -> l.toLowerCase(java.util.Locale.ROOT).startsWith("content-length:"))
              .count();
          assertTrue(lengths <= 1, req + " answered with " + lengths + " Content-Length headers:\n" + head);
          if (req.startsWith("GET") && !req.contains("gzip")) {
            assertEquals(1, lengths, head);
          }
        }
      }
    }
  }

  /**
   * A close that comes while the accept thread hands a new connection on (between the close check and the
   * connection's deadline): the accept thread ends without an exception, the connection is closed at once (not at its
   * head deadline), and the close returns. Before, close() stopped the deadline executor without waiting for the
   * accept thread, which then died of a {@code RejectedExecutionException} scheduling the connection's deadline.
   */
  @Test
  void aCloseWhileAConnectionIsHandedOnEndsTheAcceptThreadQuietlyAndClosesTheConnection() throws Exception {
    var handingOn = new java.util.concurrent.CountDownLatch(1);
    var goOn = new java.util.concurrent.CountDownLatch(1);
    var acceptThread = new java.util.concurrent.atomic.AtomicReference<Thread>();
    var uncaught = new java.util.concurrent.atomic.AtomicReference<Throwable>();
    var server = MetricsServer.start(new MetricsAddress("127.0.0.1", 0), new PrometheusRegistry(), health, () -> {
      acceptThread.set(Thread.currentThread());
      Thread.currentThread().setUncaughtExceptionHandler((t, e) -> uncaught.set(e));
      handingOn.countDown();
      try {
        goOn.await(30, java.util.concurrent.TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    });
    Thread closer = null;
    try (var client = new java.net.Socket("127.0.0.1", server.port())) {
      // It sends nothing: a close with unread bytes would reset the connection, not end it.
      assertTrue(handingOn.await(10, java.util.concurrent.TimeUnit.SECONDS), "the connection was not accepted");
      closer = Thread.ofPlatform().name("test-close").start(server::close);
      var c = closer;
      // The close has begun: it returned, or it waits (for the accept thread).
      dev.kvraft.server.testing.Await.until("the close to begin", java.time.Duration.ofSeconds(10),
          () -> c.getState() == Thread.State.TERMINATED || c.getState() == Thread.State.TIMED_WAITING);
      goOn.countDown();
      closer.join(MetricsServer.ACCEPTOR_JOIN_MS + 5_000);
      assertFalse(closer.isAlive(), "close() returned");
      acceptThread.get().join(5_000);
      assertFalse(acceptThread.get().isAlive(), "the accept thread ended");
      assertNull(uncaught.get(), "the accept thread died of an exception");
      // Sooner than the head deadline (2 s from when the connection is served), which would close it too.
      client.setSoTimeout(MetricsServer.HEAD_TIMEOUT_MS / 2);
      assertEquals(-1, client.getInputStream().read(), "the connection in progress is closed by the close");
    } finally {
      goOn.countDown();
      if (closer != null) {
        closer.join(10_000);
      }
      server.close();
    }
  }
}
