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
  private static final long NOT_MEMBER_LOG_NANOS = TimeUnit.SECONDS.toNanos(10);
  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(Retries.class);

  private final PendingRequests pending;
  private final Replies replies;
  private final BooleanSupplier accepting;
  /** When {@link #notMember} last logged (System.nanoTime()), 0 before; loop thread. */
  private long notMemberLoggedAt;

  Retries(PendingRequests pending, Replies replies, BooleanSupplier accepting) {
    this.pending = pending;
    this.replies = replies;
    this.accepting = accepting;
  }

  /**
   * The leader refused this node's forward or read-index request as not a member's ({@code Error.not_member}): this
   * node is being added or removed, or a new leader has not got the entry that added it. Not applied, so retried
   * until the deadline like UNAVAILABLE, and answered UNAVAILABLE naming the leader if it lasts (the client may go
   * there itself). Logged at most every {@link #NOT_MEMBER_LOG_NANOS}: when it lasts, the cause is more likely this
   * node's certificate (it must name the node's id) or token than a change.
   */
  void notMember(List<Event.Command> commands, String nodeId, String leaderAddress, Error refusal) {
    var message = "the leader" + (leaderAddress.isEmpty() ? "" : " at " + leaderAddress) + " does not take node "
        + nodeId + " as a member now (" + refusal.getMessage() + "); is a membership change under way? If this"
        + " lasts, check that node's TLS certificate names its node id";
    long now = System.nanoTime();
    if (notMemberLoggedAt == 0 || now - notMemberLoggedAt >= NOT_MEMBER_LOG_NANOS) {
      notMemberLoggedAt = now;
      LOG.warn("{} (requests retried until their deadline; logged at most every 10 s)", message);
    }
    retryOrFail(commands, Error.Code.UNAVAILABLE, message, leaderAddress);
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
