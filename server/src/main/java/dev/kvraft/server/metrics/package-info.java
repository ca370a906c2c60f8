/**
 * Observability for a kvraft node: the {@code metrics.address} setting ({@link
 * dev.kvraft.server.metrics.MetricsAddress}), the HTTP endpoint for /metrics, /health and /ready
 * ({@link dev.kvraft.server.metrics.MetricsServer}, probes answered by a {@link
 * dev.kvraft.server.metrics.HealthSource}), the request series ({@link
 * dev.kvraft.server.metrics.KvMetrics}), node gauges read at scrape time ({@link
 * dev.kvraft.server.metrics.NodeGauges} from a {@link dev.kvraft.server.metrics.NodeSource}) and the slow-request log ({@link
 * dev.kvraft.server.metrics.SlowRequestLog}), all held in one node's registry by {@link
 * dev.kvraft.server.metrics.NodeMetrics} (with the loop, proposal, connection, byte and snapshot
 * series), and the bridge of Ratis's own metrics ({@link dev.kvraft.server.metrics.RatisBridge}).
 * The series are listed in the README, "Metrics and health".
 */
package dev.kvraft.server.metrics;
