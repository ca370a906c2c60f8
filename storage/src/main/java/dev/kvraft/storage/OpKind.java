package dev.kvraft.storage;

/**
 * The kind of one operation of an entry ({@code raft_log_ops.op}). {@link #sql()} is the stored text, part of
 * the schema users query with sqlite3 (storage/README.md), so it never changes.
 */
public enum OpKind {
  PUT("put"),
  DELETE("delete"),
  DELETE_RANGE("delete-range"),
  /** A transaction, recorded as one row with its compare result; its writes follow as their own rows. */
  TXN("txn");

  private final String sql;

  OpKind(String sql) {
    this.sql = sql;
  }

  /** The value of the {@code op} column. */
  public String sql() {
    return sql;
  }

  @Override
  public String toString() {
    return sql;
  }
}
