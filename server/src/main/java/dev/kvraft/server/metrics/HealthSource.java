package dev.kvraft.server.metrics;

/** What /health and /ready ask the node; implementations must be cheap and non-blocking (1 s probes). */
public interface HealthSource {
  /** @return null when healthy (has a leader, is applying, no alarms), else a one-line reason */
  String unhealthyReason();

  /** @return whether the node serves clients */
  boolean ready();
}
