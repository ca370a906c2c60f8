/**
 * Observability for a kvraft node: the {@code metrics.address} setting ({@link
 * dev.kvraft.server.metrics.MetricsAddress}) and the slow-request log ({@link
 * dev.kvraft.server.metrics.SlowRequestLog}). The Prometheus endpoint, health probes and the Ratis
 * metrics bridge (issue #22) are not built yet.
 */
package dev.kvraft.server.metrics;
