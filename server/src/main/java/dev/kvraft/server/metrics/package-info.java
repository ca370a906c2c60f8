/**
 * Observability for a kvraft node: the {@code metrics.address} setting ({@link
 * dev.kvraft.server.metrics.MetricsAddress}), the HTTP endpoint for /metrics, /health and /ready
 * ({@link dev.kvraft.server.metrics.MetricsServer}, probes answered by a {@link
 * dev.kvraft.server.metrics.HealthSource}), the request series ({@link
 * dev.kvraft.server.metrics.KvMetrics}), node gauges read at scrape time ({@link
 * dev.kvraft.server.metrics.NodeGauges} from a {@link dev.kvraft.server.metrics.NodeSource}) and the slow-request log ({@link
 * dev.kvraft.server.metrics.SlowRequestLog}). Not built yet (issue #22): batch, bytes,
 * connection, snapshot and loop-busy series, and the bridge of Ratis's own metrics.
 */
package dev.kvraft.server.metrics;
