package dev.kvraft.server.metrics;

import com.sun.net.httpserver.HttpExchange;
import io.prometheus.metrics.exporter.httpserver.HTTPServer;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Serves /metrics (Prometheus text), /health and /ready on one address, with at most two named
 * threads (kvraft-metrics-N) and a bounded queue; excess scrapes are rejected, never queued without bound.
 */
public final class MetricsServer implements AutoCloseable {
  private final HTTPServer server;
  private final ThreadPoolExecutor executor;

  private MetricsServer(HTTPServer server, ThreadPoolExecutor executor) {
    this.server = server;
    this.executor = executor;
  }

  public static MetricsServer start(MetricsAddress address, PrometheusRegistry registry, HealthSource health)
      throws IOException {
    var n = new AtomicInteger();
    var executor = new ThreadPoolExecutor(2, 2, 0, TimeUnit.MILLISECONDS, new ArrayBlockingQueue<>(16), r -> {
      var t = new Thread(r, "kvraft-metrics-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    }, new ThreadPoolExecutor.AbortPolicy());
    try {
      var server = HTTPServer.builder().hostname(address.host()).port(address.port()).registry(registry)
          .executorService(executor).defaultHandler(ex -> probe(ex, health)).buildAndStart();
      return new MetricsServer(server, executor);
    } catch (IOException | RuntimeException e) {
      executor.shutdownNow();
      throw new IOException("cannot serve metrics on " + address.host() + ":" + address.port()
          + ": " + e.getMessage() + "; change metrics.address or set it empty to turn metrics off", e);
    }
  }

  private static void probe(HttpExchange ex, HealthSource health) throws IOException {
    try (ex) {
      var path = ex.getRequestURI().getPath();
      int code;
      String body;
      if (path.equals("/health")) {
        var reason = health.unhealthyReason();
        code = reason == null ? 200 : 503;
        body = reason == null ? "{\"status\":\"ok\"}\n" : "{\"status\":\"unhealthy\",\"reason\":\"" + escape(reason) + "\"}\n";
      } else if (path.equals("/ready")) {
        code = health.ready() ? 200 : 503;
        body = code == 200 ? "{\"status\":\"ready\"}\n" : "{\"status\":\"not ready\"}\n";
      } else {
        code = 404;
        body = "{\"status\":\"not found\",\"paths\":[\"/metrics\",\"/health\",\"/ready\"]}\n";
      }
      var bytes = body.getBytes(StandardCharsets.UTF_8);
      ex.getResponseHeaders().set("Content-Type", "application/json");
      ex.sendResponseHeaders(code, bytes.length);
      ex.getResponseBody().write(bytes);
    }
  }

  private static String escape(String s) {
    return s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", " ");
  }

  public int port() {
    return server.getPort();
  }

  @Override
  public void close() {
    server.close();
    executor.shutdownNow();
  }
}
