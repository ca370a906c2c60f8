package dev.kvraft.storage;

/**
 * What one applied operation did ({@code raft_log_ops.result}). {@link #sql()} is the stored text, part of the
 * schema users query with sqlite3 (storage/README.md), so it never changes.
 */
public enum OpOutcome {
  CREATED("created"),
  UPDATED("updated"),
  DELETED("deleted"),
  NOT_FOUND("not found"),
  COMPARE_SUCCEEDED("compare succeeded"),
  COMPARE_FAILED("compare failed");

  private final String sql;

  OpOutcome(String sql) {
    this.sql = sql;
  }

  /** The value of the {@code result} column. */
  public String sql() {
    return sql;
  }

  @Override
  public String toString() {
    return sql;
  }
}
