package dev.kvraft.server.db;

import dev.kvraft.proto.Watch;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;

/**
 * The admission limits of watches: how many a connection and the node may hold, how many bytes, and how much of the
 * range index. {@link Watches} asks {@link #refusal} before it opens a watch (a refusal is its {@code OVERLOADED}
 * text), {@link #charge}s the watch once it is open and {@link #discharge}s it when it ends.
 *
 * <p>Owned by the database loop's thread, like {@link Watches}: the bytes of every watch on the node and each
 * connection's {@link Usage}. The range index (its {@link WatchIndex}'s) and the counts of open watches are
 * Watches'; this only reads them.
 */
final class WatchBudget {
  /** At most this many watches per connection, and on the node. */
  static final int MAX_PER_CONNECTION = 10_000;
  static final int MAX_WATCHES = 100_000;
  /** And at most this many bytes of them ({@link #weight}: ranges of 4 KiB keys weigh more than short ones). */
  static final long MAX_BYTES_PER_CONNECTION = 16L << 20;
  static final long MAX_BYTES = 128L << 20;
  /**
   * And at most this many watcher entries in the range index ({@link RangeIndex#entries}): disjoint ranges cost about
   * one each, but n nested ranges cost n * n, which 10,000 watches of one client would otherwise make gigabytes.
   */
  static final long MAX_RANGE_ENTRIES = 1_000_000;
  /** Of which one connection's watches may have added at most this many, so that one client cannot take them all. */
  static final long MAX_RANGE_ENTRIES_PER_CONNECTION = 100_000;

  /** What one connection's watches hold: their {@link #weight}s, and what opening them added to the range index. */
  private record Usage(long bytes, long rangeEntries) {
    static final Usage NONE = new Usage(0, 0);

    Usage plus(Usage other) {
      return new Usage(bytes + other.bytes, rangeEntries + other.rangeEntries);
    }
  }

  private final String nodeId;
  private final RangeIndex<?> ranges;
  private final Map<WatchSink, Usage> usage = new HashMap<>();
  /** The {@link #weight}s of every watch on the node. */
  private long bytes;

  WatchBudget(String nodeId, RangeIndex<?> ranges) {
    this.nodeId = nodeId;
    this.ranges = ranges;
  }

  /** What a watch holds in memory, about: its range twice (the request's, and as arrays), and the objects. */
  static long weight(Watch watch) {
    return 2L * (watch.getKey().size() + watch.getRangeEnd().size()) + 256;
  }

  /**
   * Why the node cannot open {@code watch} on {@code sink}, which has {@code open} watches open while the node has
   * {@code watches}: the {@code OVERLOADED} message; empty when it fits.
   */
  Optional<String> refusal(WatchSink sink, int open, int watches, Watch watch) {
    long weight = weight(watch);
    var used = usage.getOrDefault(sink, Usage.NONE);
    long rangeCost = rangeCost(watch);
    String weighs = "; a watch weighs twice its key and range end, plus 256)";
    String full = open >= MAX_PER_CONNECTION
        ? open + " watches open on this connection (at most " + MAX_PER_CONNECTION + ")"
        : watches >= MAX_WATCHES ? watches + " watches open (at most " + MAX_WATCHES + ")"
        : used.bytes() + weight > MAX_BYTES_PER_CONNECTION ? "watches of " + used.bytes() + " bytes open on this"
            + " connection (at most " + MAX_BYTES_PER_CONNECTION + weighs
        : bytes + weight > MAX_BYTES ? "watches of " + bytes + " bytes open (at most " + MAX_BYTES + weighs
        : null;
    String overlap = full != null ? null
        : used.rangeEntries() + rangeCost > MAX_RANGE_ENTRIES_PER_CONNECTION ? "range watches on this connection that"
            + " take " + used.rangeEntries() + " entries of its range index (at most "
            + MAX_RANGE_ENTRIES_PER_CONNECTION
        : rangeCost > MAX_RANGE_ENTRIES - ranges.entries() ? "range watches that take " + ranges.entries()
            + " entries of its range index (at most " + MAX_RANGE_ENTRIES
        : null;
    if (full == null && overlap == null) {
      return Optional.empty();
    }
    return Optional.of("node " + nodeId + " has " + (full != null
        ? full + "; cancel some, or watch a wider range"
        : overlap + "; a range watch takes one entry per interval it spans, which ranges nested in each other"
            + " multiply); cancel some, or watch ranges that overlap less"));
  }

  /** What the watch would add to the range index (0 for a single key). */
  private long rangeCost(Watch watch) {
    if (watch.getRangeEnd().isEmpty()) {
      return 0;
    }
    return ranges.cost(watch.getKey(), watch.getRangeEnd().equals(KvState.TO_END) ? null : watch.getRangeEnd());
  }

  /** {@code watch} opened on {@code sink}, adding {@code rangeEntries} to the range index: charged until it ends. */
  void charge(WatchSink sink, Watch watch, long rangeEntries) {
    if (rangeEntries < 0) {
      throw new IllegalArgumentException("a watch adds 0 or more range index entries, got " + rangeEntries);
    }
    long weight = weight(watch);
    bytes += weight;
    usage.merge(sink, new Usage(weight, rangeEntries), Usage::plus);
  }

  /**
   * {@code watch}, charged with {@code rangeEntries}, ended on {@code sink}; {@code last}: it was the connection's
   * last, and the connection is forgotten.
   */
  void discharge(WatchSink sink, Watch watch, long rangeEntries, boolean last) {
    long weight = weight(watch);
    bytes -= weight;
    if (last) {
      usage.remove(sink);
      return;
    }
    var used = usage.get(sink);
    if (used == null) {
      throw new IllegalStateException("no watches are charged to connection " + sink.peer());
    }
    usage.put(sink, used.plus(new Usage(-weight, -rangeEntries)));
  }
}
