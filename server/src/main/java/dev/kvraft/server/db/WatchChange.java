package dev.kvraft.server.db;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;

/**
 * One change of one key, as {@link Watches} captures it from the apply step: {@code now} null for a delete,
 * {@code prev} null for a creation. {@code key} wraps (does not copy) the entry's key.
 *
 * <p>Immutable: made on the database loop's thread, read there and by nothing else (catch-ups read {@code kvraft.db}).
 */
record WatchChange(KvState.Entry prev, KvState.Entry now, long revision, ByteString key) {
  WatchChange(KvState.Entry prev, KvState.Entry now, long revision) {
    this(prev, now, revision, UnsafeByteOperations.unsafeWrap(now != null ? now.key() : prev.key()));
  }

  byte[] keyBytes() {
    return now != null ? now.key() : prev.key();
  }

  int bytes() {
    var e = now != null ? now : prev;
    return 64 + e.key().length + (now == null ? 0 : now.value().length);
  }
}
