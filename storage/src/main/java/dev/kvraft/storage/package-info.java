/**
 * SQLite storage without Ratis types: {@link dev.kvraft.storage.LogMirror} keeps the applied Raft log as tables in
 * {@code kvraft.db}; {@link dev.kvraft.storage.SnapshotFiles} writes, verifies and reads snapshot files.
 */
package dev.kvraft.storage;
