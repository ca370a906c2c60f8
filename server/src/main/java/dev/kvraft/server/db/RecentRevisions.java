package dev.kvraft.server.db;

import java.util.ArrayDeque;
import java.util.Collections;
import java.util.Iterator;

/**
 * The revisions applied last, which {@link Watches} keeps in memory while anyone watches: at most
 * {@value #MAX_REVISIONS} of them and 16 MiB ({@link WatchRevision#bytes}), the oldest dropped first. A watcher that
 * caught up to the end of what kvraft.db holds (which lags the loop) gets the revisions since from here
 * ({@link Watches#join}).
 *
 * <p>Owned by the database loop's thread, like {@link Watches}, which alone uses it.
 */
final class RecentRevisions implements Iterable<WatchRevision> {
  static final int MAX_REVISIONS = 100_000;
  static final long MAX_BYTES = 16L << 20;

  private final ArrayDeque<WatchRevision> revisions = new ArrayDeque<>();
  /** The sum of their {@link WatchRevision#bytes}. */
  private long bytes;
  /** Every revision from this one on is here (while anyone watches). */
  private long from;

  /** Keeps a revision just applied, dropping the oldest ones past the limits. */
  void add(WatchRevision r) {
    revisions.addLast(r);
    bytes += r.bytes();
    while (revisions.size() > MAX_REVISIONS || bytes > MAX_BYTES) {
      var old = revisions.removeFirst();
      bytes -= old.bytes();
      from = old.revision() + 1;
    }
  }

  /** Whether every revision from {@code next} on is here. */
  boolean holdsFrom(long next) {
    return from <= next;
  }

  /** Drops every revision: the last watch ended (the next one to open starts again, {@link #restartAfter}). */
  void clear() {
    revisions.clear();
    bytes = 0;
  }

  /** Drops every revision and keeps those after {@code revision}: a first watch opens, or a snapshot was installed. */
  void restartAfter(long revision) {
    clear();
    from = revision + 1;
  }

  /** The revisions kept, oldest first (read only). */
  @Override
  public Iterator<WatchRevision> iterator() {
    return Collections.unmodifiableCollection(revisions).iterator();
  }
}
