package dev.kvraft.client;

import dev.kvraft.proto.Event;
import java.util.List;

/**
 * Receives a watch's events, on the watch's own delivery thread, one call at a time and in revision order. It may
 * call the client (a get, a put) but should not take long: while it runs, the watch's next events wait.
 *
 * <p>If {@link #onEvents} or {@link #onProgress} throws, the watch ends: {@link #onError} gets an
 * {@link InternalException} whose cause is what was thrown and whose message names the revision to watch again
 * from. The events of that call do not count as delivered ({@link Watcher#lastRevision()} stays before them).
 */
public interface WatchListener {
  /** The events of one or more whole revisions; {@code revision} is the last one's. */
  void onEvents(List<Event> events, long revision);

  /** Every change up to {@code revision} was delivered (a progress notification, or the watch's first answer). */
  default void onProgress(long revision) {}

  /**
   * The watch ended for good: history it needs is compacted on every node ({@link CompactedException}), or the
   * request was refused (no permission, a bad range), or the client was closed ({@link UnavailableException}). Not
   * called for a lost node: the watch resumes elsewhere.
   */
  default void onError(KvException e) {}
}
