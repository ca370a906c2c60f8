package dev.kvraft.server.metrics;

import static org.junit.jupiter.api.Assertions.*;

import dev.kvraft.proto.Error;
import dev.kvraft.proto.Response;
import dev.kvraft.server.db.RequestTrace;
import dev.kvraft.server.testing.Requests;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class NodeMetricsTest {
  private final List<String> slowLines = new ArrayList<>();
  private final NodeMetrics metrics = new NodeMetrics("n1", List.of("n1"), new NodeSource() {
    @Override public long term() { return 1; }
    @Override public int role() { return 2; }
    @Override public long commitIndex() { return 0; }
    @Override public long appliedIndex() { return 0; }
    @Override public int queuedCommands() { return 0; }
    @Override public int inFlightCommands() { return 0; }
    @Override public long mirrorLag() { return 0; }
    @Override public long mirrorRows() { return 0; }
    @Override public long databaseFileBytes() { return 0; }
    @Override public List<Follower> followers() { return List.of(); }
  }, SlowRequestLog.of(1000, slowLines::add));

  private static final Response OK = Response.newBuilder().setId(1).build();

  @Test
  void requestsAreCountedByCommandAndResultAndForwardedOnesApart() throws Exception {
    metrics.answered(Requests.put(1, "k", "v"), OK, RequestTrace.receivedNow("c1"));
    metrics.answered(Requests.put(2, "k", "v"), Response.newBuilder().setId(2)
        .setError(Error.newBuilder().setCode(Error.Code.OVERLOADED)).build(), RequestTrace.receivedNow("c1"));
    metrics.answered(Requests.put(3, "k", "v").toBuilder().setForwarded(true).build(), OK,
        RequestTrace.receivedNow("n2"));
    var body = scrape();
    assertTrue(body.contains("kvraft_requests_total{command=\"put\",result=\"ok\"} 1.0"), body);
    assertTrue(body.contains("kvraft_requests_total{command=\"put\",result=\"overloaded\"} 1.0"), body);
    assertTrue(body.contains("kvraft_forwarded_requests_total{command=\"put\"} 1.0"), body);
    var put = metrics.latencies().stream().filter(l -> l.command().equals("put")).findFirst().orElseThrow();
    assertEquals(2, put.count());
    assertTrue(put.p99Millis() >= 0 && put.p99Millis() < 1000, "fast requests have a small p99: " + put);
    assertTrue(slowLines.isEmpty(), slowLines.toString());
  }

  @Test
  void turnsAndProposalsAreRecorded() throws Exception {
    metrics.turn(10, 2_000_000);
    metrics.proposed(8, 900);
    var body = scrape();
    assertTrue(body.contains("kvraft_loop_turns_total 1.0"), body);
    assertTrue(body.contains("kvraft_loop_busy_seconds_total 0.002"), body);
    assertTrue(body.contains("kvraft_loop_turn_duration_seconds_bucket{le=\"0.0025\"} 1"), body);
    assertTrue(body.contains("kvraft_proposal_ops_count 1"), body);
    assertTrue(body.contains("kvraft_proposal_bytes_sum 900.0"), body);
  }

  private String scrape() throws Exception {
    var out = new java.io.ByteArrayOutputStream();
    io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter.create().write(out, metrics.registry().scrape());
    return out.toString(java.nio.charset.StandardCharsets.UTF_8);
  }
}
