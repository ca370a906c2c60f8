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
}
