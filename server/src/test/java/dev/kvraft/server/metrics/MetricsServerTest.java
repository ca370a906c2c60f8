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
}
