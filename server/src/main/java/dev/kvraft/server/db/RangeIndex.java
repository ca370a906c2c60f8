package dev.kvraft.server.db;

import com.google.protobuf.ByteString;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Set;
import java.util.TreeMap;

/**
 * Which ranges hold a key, in O(log n): the range ends cut the key space into elementary intervals, each mapped to the
 * values whose range covers it all. Adding a range splits at most two intervals; finding a key's values is one
 * search. (A scan of every range watcher per revision was most of the loop's time with 1,000 watchers.)
 *
 * <p>Lookups, one per applied change while anyone watches a range, read a snapshot of the intervals in two arrays
 * (a binary search, no allocation). Rebuilding the snapshot costs as much as the index holds, so after ranges were
 * added or removed it is rebuilt only once that many lookups have gone by; until then a lookup reads the map and
 * copies the interval's values. Many watches opening while writes flow (clients watching again after a failover)
 * therefore cost what they cost before the snapshot existed, not a rebuild each.
 *
 * <p>Not thread-safe: owned by the database loop's thread.
 */
final class RangeIndex<T> {
  /** Keys as arrays, compared with the vectorised {@link java.util.Arrays#compareUnsigned}: protobuf's comparator walks a byte iterator. */
  private static final java.util.Comparator<byte[]> ORDER = java.util.Arrays::compareUnsigned;
  private final TreeMap<byte[], Set<T>> bounds = new TreeMap<>(ORDER);
  /**
   * The snapshot: interval i starts at {@code starts[i]} and holds {@code values.get(i)}; both null when out of date,
   * so that values removed from the index are not kept alive by a snapshot nobody reads (a closed connection's
   * watchers, and through them the connection, until the next lookup).
   */
  private byte[][] starts;
  private List<List<T>> values;
  /** Lookups since the snapshot went out of date. */
  private long staleLookups;
  /** The sum of the intervals' value counts: what the index holds. n nested ranges make it n * n. */
  private long entries;

  /**
   * What adding [start, end) would cost at most, in {@link #entries}: one per interval it spans, two new intervals,
   * and the values copied into them when they split existing ones.
   */
  long cost(ByteString startKey, ByteString endKey) {
    var start = startKey.toByteArray();
    var end = endKey == null ? null : endKey.toByteArray();
    long cost = span(start, end).size() + 2L + floorSize(start);
    return end == null ? cost : cost + floorSize(end);
  }

  long entries() {
    return entries;
  }

  /** Adds {@code value} over [start, end); {@code end} null: to the end of the key space. */
  void add(ByteString startKey, ByteString endKey, T value) {
    invalidate();
    var start = startKey.toByteArray();
    var end = endKey == null ? null : endKey.toByteArray();
    split(start);
    if (end != null) {
      split(end);
    }
    for (var set : span(start, end).values()) {
      if (set.add(value)) {
        entries++;
      }
    }
  }

  void remove(ByteString startKey, ByteString endKey, T value) {
    invalidate();
    var start = startKey.toByteArray();
    var end = endKey == null ? null : endKey.toByteArray();
    for (var set : span(start, end).values()) {
      if (set.remove(value)) {
        entries--;
      }
    }
    merge(start);
    if (end != null) {
      merge(end);
    }
  }

  private void invalidate() {
    starts = null;
    values = null;
  }

  /** Whether a snapshot is held (for tests). */
  boolean hasSnapshot() {
    return starts != null;
  }

  private int floorSize(byte[] at) {
    var floor = bounds.floorEntry(at);
    return floor == null ? 0 : floor.getValue().size();
  }

  /** The values whose range holds {@code key} (empty when none). */
  List<T> at(byte[] key) {
    if (starts == null) {
      if (++staleLookups < bounds.size() + entries) {
        var floor = bounds.floorKey(key);
        return floor == null ? List.of() : List.copyOf(bounds.get(floor));
      }
      snapshot();
    }
    // The last interval starting at or before the key: the key's own, or the one before its insertion point.
    int i = java.util.Arrays.binarySearch(starts, key, ORDER);
    int floor = i >= 0 ? i : -i - 2;
    return floor < 0 ? List.of() : values.get(floor);
  }

  private void snapshot() {
    staleLookups = 0;
    starts = new byte[bounds.size()][];
    values = new ArrayList<>(bounds.size());
    int i = 0;
    for (var e : bounds.entrySet()) {
      starts[i++] = e.getKey();
      values.add(List.copyOf(e.getValue()));
    }
  }

  boolean isEmpty() {
    return bounds.values().stream().allMatch(Set::isEmpty);
  }

  /** Intervals, for tests. */
  int intervals() {
    return bounds.size();
  }

  private NavigableMap<byte[], Set<T>> span(byte[] start, byte[] end) {
    return end == null ? bounds.tailMap(start, true) : bounds.subMap(start, true, end, false);
  }

  private void split(byte[] at) {
    if (!bounds.containsKey(at)) {
      var floor = bounds.floorEntry(at);
      var copy = floor == null ? new HashSet<T>() : new HashSet<>(floor.getValue());
      entries += copy.size();
      bounds.put(at, copy);
    }
  }

  /** Drops the bound at {@code at} when the interval it starts holds the same values as the one before. */
  private void merge(byte[] at) {
    var here = bounds.get(at);
    if (here == null) {
      return;
    }
    Map.Entry<byte[], Set<T>> lower = bounds.lowerEntry(at);
    if (lower == null ? here.isEmpty() : lower.getValue().equals(here)) {
      bounds.remove(at);
      entries -= here.size();
    }
  }
}
