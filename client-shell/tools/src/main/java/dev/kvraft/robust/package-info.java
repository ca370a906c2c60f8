/**
 * The robustness suite: a workload that records histories, a linearizability checker (Wing–Gong/Lowe, per key,
 * memoised), fault scenarios against a cluster of real processes (kills, pauses, restarts, network partitions in
 * namespaces), and {@code kvraft-torture}, the long mode.
 */
package dev.kvraft.robust;
