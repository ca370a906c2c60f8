package dev.kvraft.server.db;

import com.google.protobuf.ByteString;
import dev.kvraft.proto.Watch;
import java.util.ArrayList;
import java.util.List;

/**
 * One open watch of {@link Watches}: the connection it streams to, its request id and {@link Watch}, its range (for
 * {@link #holds}) and filters ({@link #wants}), and where its stream is.
 *
 * <p>The mutable fields are the database loop thread's. While the watcher is behind ({@link #live} false), its
 * position is its {@link WatchCatchUp}'s, kept on that thread and handed back through the loop's queue
 * ({@link Watches#join}); the catch-up thread reads only the final fields and {@link #ended}, the one mutable field
 * both threads read (the loop sets it when the watch ends).
 */
final class Watcher {
  final WatchSink sink;
  final long id;
  final Watch watch;
  /** The range as arrays, compared with {@link java.util.Arrays#compareUnsigned} (protobuf's comparator is slow). */
  private final byte[] from;
  private final byte[] to;
  private final boolean single;
  private final boolean toEnd;
  /** Loop thread while live: the first revision not yet queued to the client. */
  long next;
  boolean live;
  /** What opening this watch added to the range index, charged to its connection until it ends. */
  long rangeEntries;
  final List<WatchRevision> pending = new ArrayList<>();
  long pendingBytes;
  long lastSentNanos = System.nanoTime();
  volatile boolean ended;

  Watcher(WatchSink sink, long id, Watch watch, long next) {
    this.sink = sink;
    this.id = id;
    this.watch = watch;
    this.next = next;
    this.from = watch.getKey().toByteArray();
    this.to = watch.getRangeEnd().toByteArray();
    this.single = watch.getRangeEnd().isEmpty();
    this.toEnd = watch.getRangeEnd().equals(KvState.TO_END);
  }

  boolean holds(ByteString key) {
    return holds(key.toByteArray());
  }

  boolean holds(byte[] key) {
    if (single) {
      return java.util.Arrays.equals(key, from);
    }
    return java.util.Arrays.compareUnsigned(key, from) >= 0
        && (toEnd || java.util.Arrays.compareUnsigned(key, to) < 0);
  }

  boolean wants(boolean delete) {
    return delete ? !watch.getNoDelete() : !watch.getNoPut();
  }
}
