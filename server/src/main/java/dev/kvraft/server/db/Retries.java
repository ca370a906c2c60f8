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

  /** Puts the commands whose retry is due back into this turn's writes and reads. */
  void takeDue(List<Event.Command> writes, List<Event.Command> reads) {
    for (var c : pending.dueRetries(System.nanoTime())) {
      (CommandKind.of(c.request()).leaderWork() ? writes : reads).add(c);
    }
  }
}
