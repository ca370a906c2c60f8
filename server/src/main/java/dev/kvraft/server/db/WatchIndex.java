package dev.kvraft.server.db;

import com.google.protobuf.ByteString;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Which open watches a changed key reaches: single-key watches in a map by key, range watches (a prefix, a range, or
 * every key from one on) in a {@link RangeIndex}. Each applied change is looked up in both; the range index only
 * when a range watch is open.
 *
 * <p>Not thread-safe: owned by the database loop's thread, like the {@link Watches} it serves.
 */
final class WatchIndex {
  private final Map<ByteString, List<Watcher>> byKey = new HashMap<>();
  private final RangeIndex<Watcher> ranges = new RangeIndex<>();
  private int rangeWatchers;

  /** The range index, whose size the {@link WatchBudget} bounds. */
  RangeIndex<Watcher> ranges() {
    return ranges;
  }

  /** Adds a watch; returns how many range index entries it added (0 for a single key). */
  long add(Watcher w) {
    var watch = w.watch;
    if (watch.getRangeEnd().isEmpty()) {
      byKey.computeIfAbsent(watch.getKey(), k -> new ArrayList<>(1)).add(w);
      return 0;
    }
    long before = ranges.entries();
    ranges.add(watch.getKey(), end(w), w);
    rangeWatchers++;
    return Math.max(0, ranges.entries() - before);
  }

  void remove(Watcher w) {
    var watch = w.watch;
    if (watch.getRangeEnd().isEmpty()) {
      var list = byKey.get(watch.getKey());
      if (list != null) {
        list.remove(w);
        if (list.isEmpty()) {
          byKey.remove(watch.getKey());
        }
      }
      return;
    }
    ranges.remove(watch.getKey(), end(w), w);
    rangeWatchers--;
  }

  /** The single-key watches of {@code key}; null when there are none. */
  List<Watcher> exact(ByteString key) {
    return byKey.get(key);
  }

  /** The range watches whose range holds {@code key}; empty when there are none. */
  List<Watcher> covering(byte[] key) {
    return rangeWatchers == 0 ? List.of() : ranges.at(key);
  }

  private static ByteString end(Watcher w) {
    var end = w.watch.getRangeEnd();
    return end.equals(KvState.TO_END) ? null : end;
  }
}
