package dev.kvraft.server.db;

/**
 * When one client request passed each stage, in {@link System#nanoTime()} units (0 = not reached): for the request
 * metrics and the slow-request log.
 *
 * <p>Mutable, with one owner at a time, never two: the connection's reader creates it and stamps {@code received};
 * handing the command to the database loop (through its queue, which orders the writes) passes it to the loop
 * thread, which stamps {@code taken} and {@code raftDone}. Nobody touches it after the answer is sent.
 */
public final class RequestTrace {
  private final String connection;
  private final long received;
  private long taken;
  private long raftDone;

  private RequestTrace(String connection, long received) {
    this.connection = connection;
    this.received = received;
  }

  /** A trace for a request read just now from {@code connection} (the client's address, for logs). */
  public static RequestTrace receivedNow(String connection) {
    return new RequestTrace(connection, System.nanoTime());
  }

  public String connection() {
    return connection;
  }

  public long received() {
    return received;
  }

  /** When the database loop took the request off its queue; 0 when it never did. */
  public long taken() {
    return taken;
  }

  /** When Raft finished with it (its entry applied, its read barrier passed, the leader answered); 0 for none. */
  public long raftDone() {
    return raftDone;
  }

  void taken(long nanos) {
    taken = nanos;
  }

  void raftDone(long nanos) {
    raftDone = nanos;
  }

  /** Where the time went, once answered at {@code answered}: queue, Raft (or the leader), then the answer. */
  public Phases phases(long answered) {
    long queue = taken == 0 ? answered - received : taken - received;
    long raft = taken == 0 || raftDone == 0 ? 0 : raftDone - taken;
    long apply = taken == 0 ? 0 : answered - (raftDone == 0 ? taken : raftDone);
    return new Phases(queue, raft, apply);
  }

  /** Nanoseconds in each stage; they add up to the total. */
  public record Phases(long queueNanos, long raftNanos, long applyNanos) {
    public long totalNanos() {
      return queueNanos + raftNanos + applyNanos;
    }
  }
}
