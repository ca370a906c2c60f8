package dev.kvraft.server.db;

import com.google.protobuf.ByteString;
import dev.kvraft.storage.LogMirror;
import dev.kvraft.storage.StorageException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Feeds every applied entry and operation into {@code kvraft.db} ({@link LogMirror}), one SQLite transaction per
 * batch the loop handled, and prunes history below a snapshot past {@code log.retention} entries.
 *
 * <p>Owned by the database loop thread. The mirror is a readable copy, not the source of truth: if writing it
 * fails at run time the node says so in one ERROR line, stops mirroring, and keeps serving (Ratis's log and the
 * in-memory state are unaffected); a kvraft.db that cannot be opened at start-up stops the node instead.
 */
public final class MirrorObserver implements DatabaseLoop.ApplyObserver {
  private static final Logger LOG = LoggerFactory.getLogger(MirrorObserver.class);

  private final LogMirror mirror;
  private final long retention;
  private boolean broken;
  private long idx;
  private int seq;

  public MirrorObserver(LogMirror mirror, long retention) {
    this.mirror = mirror;
    this.retention = retention;
  }

  @Override
  public KvState.OpListener beginEntry(long term, long index, String kind, String proposer, int opCount,
      String summary, ByteString payload) {
    if (broken) {
      return KvState.OpListener.NONE;
    }
    try {
      mirror.entry(index, term, kind, proposer, opCount, summary, payload.isEmpty() ? null : payload.toByteArray());
    } catch (StorageException e) {
      fail(e);
      return KvState.OpListener.NONE;
    }
    idx = index;
    seq = 0;
    return this::op;
  }

  private void op(String op, ByteString key, ByteString value, long revision, String result) {
    if (broken) {
      return;
    }
    try {
      mirror.op(idx, seq++, op, op.equals("txn") ? null : key.toByteArray(),
          value == null ? null : value.toByteArray(), revision, result);
    } catch (StorageException e) {
      fail(e);
    }
  }

  @Override
  public void flush() {
    if (broken) {
      return;
    }
    try {
      mirror.commit();
    } catch (StorageException e) {
      fail(e);
    }
  }

  @Override
  public void snapshotTaken(long index) {
    if (broken) {
      return;
    }
    long upTo = Math.min(index, mirror.maxIndex() - retention);
    if (upTo < 0) {
      return;
    }
    try {
      int n = mirror.prune(upTo);
      if (n > 0) {
        LOG.info("pruned {} log entries up to index {} from {} (log.retention {})", n, upTo, mirror.file(),
            retention);
      }
    } catch (StorageException e) {
      fail(e);
    }
  }

  private void fail(StorageException e) {
    broken = true;
    LOG.error("writing the log mirror failed: {}; kvraft.db stops recording until this node restarts, the store"
        + " itself is unaffected (check the disk, then restart the node)", e.getMessage());
  }

  @Override
  public void close() {
    try {
      mirror.close();
    } catch (StorageException e) {
      LOG.warn("closing {}: {}", mirror.file(), e.getMessage());
    }
  }
}
