package dev.kvraft.storage;

/**
 * What a {@code raft_log} row records. {@link #sql()} is the text stored in the {@code kind} column; it is part
 * of the schema users query with sqlite3 (storage/README.md), so it never changes.
 */
public enum EntryKind {
  /** A kvraft LogEntry of client operations. */
  NORMAL("normal"),
  /** A Raft configuration (membership) entry. */
  CONFIGURATION("configuration"),
  /** A Ratis metadata entry (turned off in kvraft, kept for older logs). */
  METADATA("metadata"),
  /** The state was replaced by an installed snapshot. */
  SNAPSHOT_INSTALL("snapshot-install"),
  /** An entry that does not decode as a kvraft LogEntry: applied as a no-op, its reason in the summary. */
  REJECTED("rejected");

  private final String sql;

  EntryKind(String sql) {
    this.sql = sql;
  }

  /** The value of the {@code kind} column. */
  public String sql() {
    return sql;
  }

  @Override
  public String toString() {
    return sql;
  }
}
