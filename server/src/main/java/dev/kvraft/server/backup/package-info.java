/**
 * Backups a node holds for the client that asked: {@link dev.kvraft.server.backup.BackupFiles} writes the database
 * loop's point-in-time copy as a SQLite file in the snapshot format on the {@code kvraft-backup} thread, and
 * connections read it back in chunks; read, idle or left-over files are deleted. Restores are the raft package's
 * ({@code SeedSnapshot}).
 */
package dev.kvraft.server.backup;
