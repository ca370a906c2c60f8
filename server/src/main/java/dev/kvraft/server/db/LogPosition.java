package dev.kvraft.server.db;

/** A place in the Raft log: an entry's term and index. Immutable; ordered by index. */
public record LogPosition(long term, long index) implements Comparable<LogPosition> {
  /** Before the first entry: nothing applied yet. */
  public static final LogPosition NONE = new LogPosition(0, -1);

  public LogPosition {
    if (term < 0 || index < -1) {
      throw new IllegalArgumentException("a log position needs term >= 0 and index >= -1, got term " + term
          + " index " + index);
    }
  }

  public static LogPosition of(long term, long index) {
    return new LogPosition(term, index);
  }

  @Override
  public int compareTo(LogPosition o) {
    return Long.compare(index, o.index);
  }

  @Override
  public String toString() {
    return "(term " + term + ", index " + index + ")";
  }
}
