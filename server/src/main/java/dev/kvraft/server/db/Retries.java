package dev.kvraft.server.db;

import dev.kvraft.proto.CommandKind;
import dev.kvraft.proto.Error;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * The rule for commands that were not applied: UNAVAILABLE (no leader yet, leader not ready, leader changed) is
 * tried again shortly until the deadline, as etcd does; anything else is answered now. Loop thread only.
 */
final class Retries {
  static final long RETRY_NANOS = TimeUnit.MILLISECONDS.toNanos(20);

  private final PendingRequests pending;
  private final Replies replies;
  private final BooleanSupplier accepting;

  Retries(PendingRequests pending, Replies replies, BooleanSupplier accepting) {
    this.pending = pending;
    this.replies = replies;
    this.accepting = accepting;
  }

  void retryOrFail(List<Event.Command> commands, Error.Code code, String message, String leaderAddress) {
    long now = System.nanoTime();
    var retry = new ArrayList<Event.Command>();
    for (var c : commands) {
      if (code == Error.Code.UNAVAILABLE && accepting.getAsBoolean() && !c.request().getForwarded()
          && c.deadline() - now > RETRY_NANOS) {
        retry.add(c);
      } else {
        replies.error(c, code, message, leaderAddress);
      }
    }
    if (!retry.isEmpty()) {
      pending.retryAt(retry, now + RETRY_NANOS);
    }
  }

  /**
   * Puts the commands whose retry is due back into this turn's writes and reads, the writes ahead of the turn's new
   * ones. While older writes still wait for their retry, the turn's new writes wait behind them ({@link #holdBehind}).
   */
  void takeDue(List<Event.Command> writes, List<Event.Command> reads) {
    holdBehind(writes);
    var dueWrites = new ArrayList<Event.Command>();
    for (var c : pending.dueRetries(System.nanoTime())) {
      (CommandKind.of(c.request()).leaderWork() ? dueWrites : reads).add(c);
    }
    writes.addAll(0, dueWrites);
  }

  /**
   * Writes sent on one connection keep their order across a wait for a leader: a write that arrived while there was
   * none waits for its retry, and a later write that arrives once a leader is known must not overtake it. So while
   * any write waits, new writes join the queue behind it, due with the newest waiting retry. A new write whose
   * deadline would pass before then is answered UNAVAILABLE now (not applied) rather than sent ahead. Forwarded
   * writes are not held: the follower that sent them retries them, in its own order.
   */
  private void holdBehind(List<Event.Command> writes) {
    if (writes.isEmpty() || !accepting.getAsBoolean() || !pending.writeWaits()) {
      return;
    }
    long at = pending.lastRetryAt();
    var held = new ArrayList<Event.Command>();
    writes.removeIf(c -> {
      if (c.request().getForwarded()) {
        return false;
      }
      if (c.deadline() - at > RETRY_NANOS) {
        held.add(c);
      } else {
        replies.error(c, Error.Code.UNAVAILABLE, "an earlier write on this node is waiting for a leader, and this"
            + " write's deadline comes before its turn; it was not applied", "");
      }
      return true;
    });
    if (!held.isEmpty()) {
      pending.retryAt(held, at);
    }
  }
}
