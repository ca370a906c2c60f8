package dev.kvraft.server.db;

import java.util.Map;

/**
 * Replicated state besides the key-values, carried by snapshots in their {@code system} table: the member token,
 * users and roles, alarms, the compact revision, leases. Each part is registered with the apply step
 * ({@code Applier.systemState}) and owned by the database loop's thread.
 */
public interface SystemState {
  /** This state as {@code system} rows (names unique to it). */
  Map<String, String> forSnapshot();

  /** Replaces this state with a snapshot's rows (all of them: pick yours). */
  void installed(Map<String, String> system);
}
