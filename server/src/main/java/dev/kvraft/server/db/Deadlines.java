package dev.kvraft.server.db;

import dev.kvraft.proto.Error;
import java.util.List;

/**
 * What a command is told when its wait ends without an answer: at its deadline, or when the node stops. A write that
 * reached Raft or the leader may still apply (TIMEOUT: outcome unknown); anything else certainly did not
 * (UNAVAILABLE). Loop thread only.
 */
final class Deadlines {
  private Deadlines() {}

  static void answerExpired(PendingRequests.Expired expired, Replies replies, long timeoutMs) {
    expired.writes().forEach(p -> p.commands().forEach(c -> replies.error(c, Error.Code.TIMEOUT,
        c.request().hasLeaseKeepAlive()
            ? "lease keep-alive not confirmed within " + ownTimeoutMs(c, timeoutMs) + " ms; the lease may or may not"
                + " have been renewed (send another keep-alive: it is safe to retry)"
            : "write not confirmed within " + ownTimeoutMs(c, timeoutMs) + " ms; it may or may not have been applied,"
                + " and may still apply later (a read that does not show it proves nothing): retry it only if it is"
                + " idempotent, or as a txn that compares the key's mod_revision", "")));
    expired.reads().forEach(p -> p.commands().forEach(c -> replies.error(c, Error.Code.UNAVAILABLE,
        "read not confirmed by a quorum within " + ownTimeoutMs(c, timeoutMs) + " ms (is a quorum of nodes up?)",
        "")));
  }

  /**
   * How long the command was given, as its connection set its deadline: the client's {@code timeout_ms} when it sent
   * a shorter one than {@code request.timeout.ms}. Each command now expires at its own deadline, so naming the
   * node's setting told a client that asked for 200 ms that it had waited 5,000.
   */
  private static long ownTimeoutMs(Event.Command c, long timeoutMs) {
    int asked = c.request().getTimeoutMs();
    return asked > 0 ? Math.min(timeoutMs, asked) : timeoutMs;
  }

  /**
   * What is left of a deadline ({@link System#nanoTime()} time) in milliseconds, at least 1: the timeout to give a
   * Raft admin call made for a command, so that its answer comes before the client gives up.
   */
  static long millisLeft(long deadline) {
    return Math.max(1, java.util.concurrent.TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()));
  }

  /**
   * At shutdown: answers everything pending and every command still queued, and fails the Raft events left in the
   * queue so their threads do not wait.
   */
  static void failAll(PendingRequests.Drained drained, List<Event.Command> unapplied, List<Event> leftEvents,
      Replies replies, String why) {
    drained.mayHaveApplied().forEach(c -> replies.error(c, Error.Code.TIMEOUT,
        why + "; the write may or may not have been applied", ""));
    drained.notApplied().forEach(c -> replies.error(c, Error.Code.UNAVAILABLE, why, ""));
    unapplied.forEach(c -> replies.error(c, Error.Code.UNAVAILABLE, why, ""));
    var stopped = new IllegalStateException("database loop stopped");
    for (var e : leftEvents) {
      switch (e) {
        case Event.Applied a -> a.done().completeExceptionally(stopped);
        case Event.MetaApplied m -> m.done().completeExceptionally(stopped);
        case Event.CopyState s -> s.done().completeExceptionally(stopped);
        case Event.Install i -> i.done().completeExceptionally(stopped);
        default -> { }
      }
    }
  }
}
