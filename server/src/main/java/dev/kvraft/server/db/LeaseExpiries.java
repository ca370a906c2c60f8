package dev.kvraft.server.db;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

/**
 * When the leader must look at each lease next, and which expire now: every lease of {@link Leases}, soonest
 * {@link Leases.Lease#due} first, so that a loop turn reads only the leases due, never every lease (found by review:
 * with a client's million leases, every loop turn scanned them all). A lease is due at its deadline, or once its
 * expiry was proposed and not yet applied, no sooner than the time to propose it again ({@link #RETRY_NANOS}).
 *
 * <p>At most {@link #PER_TURN} expiries (one entry's worth) every {@link #INTERVAL_NANOS}, so at most 20,000 a second,
 * evenly: the rest wait for the next turns, as etcd rate-limits its lease revokes (1,000 a second), so that a million
 * leases expiring together cost no one turn a million steps, nor the log a burst of entries that client writes would
 * queue behind. The loop takes a turn at least that often ({@code DatabaseLoop}'s tick).
 *
 * <p>Owned by the database loop thread, through {@link Leases}; not thread-safe.
 */
final class LeaseExpiries {
  /** An expiry the leader proposed and did not see applied is proposed again after this. */
  static final long RETRY_NANOS = TimeUnit.SECONDS.toNanos(2);
  static final int PER_TURN = 1000;
  /** The least time between two turns that propose expiries: the loop's tick. */
  static final long INTERVAL_NANOS = TimeUnit.MILLISECONDS.toNanos(50);

  private final TreeSet<Leases.Lease> byDue = new TreeSet<>((a, b) -> {
    int due = Long.compare(a.due - b.due, 0);
    return due != 0 ? due : Long.compare(a.id, b.id);
  });
  /** When the last turn that looked for expiries ran; none yet: {@link Long#MIN_VALUE}. */
  private long lastTurn = Long.MIN_VALUE;

  /** A new lease (due at its deadline). */
  void add(Leases.Lease lease) {
    byDue.add(lease);
  }

  /** A lease revoked. */
  void remove(Leases.Lease lease) {
    byDue.remove(lease);
  }

  /** Every lease again, due at its deadline, none proposed (a new leader's start, a snapshot installed). */
  void reset(Collection<Leases.Lease> leases) {
    byDue.clear();
    for (var lease : leases) {
      lease.revokeProposed = 0;
      lease.due = lease.deadline;
      byDue.add(lease);
    }
  }

  /** {@code lease}'s deadline or its proposed expiry changed: it moves to when it is due now. */
  void reschedule(Leases.Lease lease) {
    byDue.remove(lease);
    long retry = lease.revokeProposed + RETRY_NANOS;
    lease.due = lease.revokeProposed != 0 && retry - lease.deadline > 0 ? retry : lease.deadline;
    byDue.add(lease);
  }

  /**
   * The leases whose expiry the leader proposes now, {@code now} being this turn's time: past their deadline, not
   * proposed within {@link #RETRY_NANOS}, at most {@link #PER_TURN}, and none when the last turn that looked was less
   * than {@link #INTERVAL_NANOS} ago. Each is marked proposed; each lease looked at moves past now.
   */
  List<Leases.Lease> takeDue(long now) {
    if (lastTurn != Long.MIN_VALUE && now - lastTurn < INTERVAL_NANOS) {
      return List.of();
    }
    lastTurn = now;
    int room = PER_TURN;
    var expired = new ArrayList<Leases.Lease>();
    // Each lease looked at moves past now (reschedule), so this ends; the count bounds a turn's work besides.
    for (int looked = 0; looked < 2 * PER_TURN && expired.size() < room && !byDue.isEmpty()
        && byDue.first().due - now <= 0; looked++) {
      var lease = byDue.first();
      boolean retryDue = lease.revokeProposed == 0 || now - lease.revokeProposed >= RETRY_NANOS;
      if (lease.deadline - now <= 0 && retryDue) {
        lease.revokeProposed = now;
        expired.add(lease);
      }
      reschedule(lease); // its deadline, or the time to propose its expiry again: later than now either way
    }
    return expired;
  }
}
