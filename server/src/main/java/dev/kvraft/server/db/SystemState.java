package dev.kvraft.server.db;

import java.util.Map;

/** Replicated state besides the key-values that snapshots carry in their {@code system} table (leases, ...). */
interface SystemState {
  /** This state as {@code system} rows (names unique to it). */
  Map<String, String> forSnapshot();

  /** Replaces this state with a snapshot's rows (all of them: pick yours). */
  void installed(Map<String, String> system);
}
