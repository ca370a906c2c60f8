package dev.kvraft.server.db;

import com.google.protobuf.ByteString;
import java.util.HashSet;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Set;
import java.util.TreeMap;

/**
 * Which ranges hold a key, in O(log n): the range ends cut the key space into elementary intervals, each mapped to the
 * values whose range covers it all. Adding a range splits at most two intervals; finding a key's values is one
 * floor lookup. (A scan of every range watcher per revision was most of the loop's time with 1,000 watchers.)
 *
 * <p>Not thread-safe: owned by the database loop's thread.
 */
final class RangeIndex<T> {
  /** Keys as arrays, compared with the vectorised {@link java.util.Arrays#compareUnsigned}: protobuf's comparator walks a byte iterator. */
  private final TreeMap<byte[], Set<T>> bounds = new TreeMap<>(java.util.Arrays::compareUnsigned);

  /** Adds {@code value} over [start, end); {@code end} null: to the end of the key space. */
  void add(ByteString startKey, ByteString endKey, T value) {
    var start = startKey.toByteArray();
    var end = endKey == null ? null : endKey.toByteArray();
    split(start);
    if (end != null) {
      split(end);
    }
    for (var set : span(start, end).values()) {
      set.add(value);
    }
  }

  void remove(ByteString startKey, ByteString endKey, T value) {
    var start = startKey.toByteArray();
    var end = endKey == null ? null : endKey.toByteArray();
    for (var set : span(start, end).values()) {
      set.remove(value);
    }
    merge(start);
    if (end != null) {
      merge(end);
    }
  }

  /** The values whose range holds {@code key} (empty when none; do not change it). */
  Set<T> at(byte[] key) {
    var e = bounds.floorEntry(key);
    return e == null ? Set.of() : e.getValue();
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
      bounds.put(at, floor == null ? new HashSet<>() : new HashSet<>(floor.getValue()));
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
    }
  }
}
