package dev.kvraft.server.db;

import com.google.protobuf.ByteString;
import dev.kvraft.storage.EntryKind;
import dev.kvraft.storage.LogMirror;
import dev.kvraft.storage.OpKind;
import dev.kvraft.storage.OpOutcome;
import dev.kvraft.storage.StorageException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Feeds every applied entry and operation into {@code kvraft.db} ({@link LogMirror}) without slowing the database
 * loop: the loop only collects immutable records of what it applied and hands each batch over at {@link #flush()};
 * the {@code kvraft-mirror} thread, which alone owns the {@link LogMirror}, writes them and commits at most every
 * {@value #COMMIT_EVERY_MS} ms. History below a snapshot past {@code log.retention} entries is pruned in the same
 * order.
 *
 * <p>The queue between them is unbounded: the mirror writes with multi-row inserts into append-only chunks
 * ({@link LogMirror}), far faster than Raft applies, and blocking the loop on it would stall the store for the sake
 * of a copy. The mirror is a readable copy, not the
 * source of truth: if writing fails at run time, or SQLite's quick check (run first, on this thread, so a
 * restart does not wait for it) finds a damaged page, the node says so in one ERROR line, stops mirroring, and
 * keeps serving; a kvraft.db that cannot be opened at start-up stops the node instead.
 */
public final class MirrorObserver implements ApplyObserver {
  private static final Logger LOG = LoggerFactory.getLogger(MirrorObserver.class);

  private sealed interface Item {}

  private record Op(int seq, OpKind op, ByteString key, ByteString value, long revision, OpOutcome result,
      long createRevision, long version) {}

  private record Entry(long idx, long term, EntryKind kind, String proposer, int opCount, String summary,
      ByteString payload, List<Op> ops) implements Item {}

  private record Prune(long snapshotIndex) implements Item {}

  private record Compacted(long revision) implements Item {}

  private record Installed(long revision) implements Item {}

  /**
   * What kvraft.db held at the writer's last commit or prune, published as one value, so a reader never pairs one
   * commit's last index with another's first: the first index read from the file, the last index and the revision
   * from the LogMirror, which has just committed them.
   */
  private record Committed(long firstIndex, long index, long revision) {
    static final Committed NONE = new Committed(-1, -1, 0);
  }

  private static final List<Item> CLOSE = List.of();
  /**
   * How long rows may wait before they are committed: one transaction per {@value #COMMIT_EVERY_MS} ms under load.
   * Each dirty page is written to the WAL once per transaction, and every transaction touches the last pages of
   * the tables and of {@code raft_log}'s index, so fewer, bigger transactions cost less per row; sqlite3 sees new
   * rows at most this late.
   */
  static final long COMMIT_EVERY_MS = 200;
  private static final long COMMIT_EVERY_NANOS = TimeUnit.MILLISECONDS.toNanos(COMMIT_EVERY_MS);

  private final LogMirror mirror;
  private final long retention;
  private final long retentionBytes;
  private final java.time.Duration retentionAge;
  /** Free pages given back per transaction (a few MiB), and at most this many transactions per prune. */
  static final int RECLAIM_PAGES = 1024;
  static final int RECLAIM_STEPS = 64;
  /** How often the writer checks the rows' bytes against log.retention.bytes. */
  static final long SIZE_CHECK_NANOS = java.util.concurrent.TimeUnit.SECONDS.toNanos(5);
  /** Writer thread only. */
  private long nextSizeCheck = System.nanoTime();
  private final LinkedBlockingQueue<List<Item>> queue = new LinkedBlockingQueue<>();
  private final Thread writer;

  // Loop thread only.
  private List<Item> batch = new ArrayList<>();
  private List<Op> ops;
  /** The put about to be recorded: its key's create revision and version ({@link KvState.OpListener#changed}). */
  private KvState.Entry lastPut;
  private final KvState.OpListener listener = new KvState.OpListener() {
    @Override
    public void applied(OpKind op, ByteString key, ByteString value, long revision, OpOutcome result) {
      op(op, key, value, revision, result);
    }

    @Override
    public void changed(KvState.Entry prev, KvState.Entry now, long revision) {
      lastPut = now;
    }
  };

  // Writer thread only.
  private boolean broken;
  // Written by the writer thread, read by metrics.
  private volatile Committed committed = Committed.NONE;
  private volatile boolean failed;

  public MirrorObserver(LogMirror mirror, long retention) {
    this(mirror, retention, Long.MAX_VALUE);
  }

  /** @param retentionBytes most bytes of rows kept below the snapshot ({@code log.retention.bytes}) */
  public MirrorObserver(LogMirror mirror, long retention, long retentionBytes) {
    this(mirror, retention, retentionBytes, null);
  }

  /** @param retentionAge entries applied longer ago go too, below the snapshot ({@code log.retention.age}); null: no limit */
  public MirrorObserver(LogMirror mirror, long retention, long retentionBytes, java.time.Duration retentionAge) {
    this.retentionAge = retentionAge;
    this.retentionBytes = retentionBytes;
    this.mirror = mirror;
    this.retention = retention;
    this.writer = Thread.ofPlatform().name("kvraft-mirror").daemon(true).start(this::writeLoop);
  }

  // ---- the database loop's side ----

  @Override
  public KvState.OpListener beginEntry(LogPosition at, EntryKind kind, String proposer, int opCount,
      String summary, ByteString payload) {
    ops = opCount == 0 ? List.of() : new ArrayList<>(opCount);
    batch.add(new Entry(at.index(), at.term(), kind, proposer, opCount, summary, payload, ops));
    return listener;
  }

  private void op(OpKind op, ByteString key, ByteString value, long revision, OpOutcome result) {
    var put = op == OpKind.PUT ? lastPut : null;
    lastPut = null;
    ops.add(new Op(ops.size(), op, op == OpKind.TXN ? null : key, value, revision, result,
        put == null ? 0 : put.createRevision(), put == null ? 0 : put.version()));
  }

  @Override
  public void installed(long revision) {
    batch.add(new Installed(revision));
  }

  @Override
  public void flush() {
    if (!batch.isEmpty()) {
      queue.add(batch);
      batch = new ArrayList<>();
    }
  }

  @Override
  public void compacted(long revision) {
    batch.add(new Compacted(revision));
  }

  @Override
  public void snapshotTaken(long index) {
    batch.add(new Prune(index));
    flush();
  }

  @Override
  public void close() {
    flush();
    queue.add(CLOSE);
    try {
      writer.join(TimeUnit.SECONDS.toMillis(10));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  // ---- for metrics, any thread ----

  /** The highest log index committed to kvraft.db, -1 before the first. */
  public long committedIndex() {
    return committed.index();
  }

  /** Entries kept in kvraft.db's raft_log table (approximately: committed index minus the first kept). */
  public long entries() {
    var c = committed;
    return c.firstIndex() < 0 || c.index() < c.firstIndex() ? 0 : c.index() - c.firstIndex() + 1;
  }

  /** The highest store revision committed to kvraft.db (a watch's catch-up reads up to it); 0 before any. */
  public long committedRevision() {
    return committed.revision();
  }

  /** Whether writing kvraft.db failed and mirroring stopped. */
  public boolean failed() {
    return failed;
  }

  // ---- the kvraft-mirror thread ----

  private void writeLoop() {
    long dirtySince = 0;
    boolean dirty = false;
    try {
      // First, while the node starts and the loop's batches wait in the queue, not on the start-up path.
      try {
        mirror.quickCheck();
      } catch (StorageException e) {
        fail(e);
      }
      while (true) {
        List<Item> items;
        if (dirty) {
          long wait = dirtySince + COMMIT_EVERY_NANOS - System.nanoTime();
          items = wait > 0 ? queue.poll(wait, TimeUnit.NANOSECONDS) : null;
        } else {
          // Idle: wake up now and then anyway, so the byte bound is kept after the writes stop.
          items = queue.poll(SIZE_CHECK_NANOS, TimeUnit.NANOSECONDS);
        }
        if (items == null) {
          commit();
          dirty = false;
          continue;
        }
        if (items == CLOSE) {
          commit();
          return;
        }
        write(items);
        if (!dirty) {
          dirty = true;
          dirtySince = System.nanoTime();
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      try {
        mirror.close();
      } catch (StorageException e) {
        LOG.warn("closing {}: {}", mirror.file(), e.getMessage());
      }
    }
  }

  private void write(List<Item> items) {
    if (broken) {
      return;
    }
    try {
      for (var item : items) {
        switch (item) {
          case Entry e -> {
            mirror.entry(e.idx(), e.term(), e.kind(), e.proposer(), e.opCount(), e.summary(),
                e.payload().isEmpty() ? null : e.payload().toByteArray());
            for (var o : e.ops()) {
              mirror.op(e.idx(), o.seq(), o.op(), o.key() == null ? null : o.key().toByteArray(),
                  o.value() == null ? null : o.value().toByteArray(), o.revision(), o.result(), o.createRevision(),
                  o.version());
            }
          }
          case Installed i -> mirror.installed(i.revision());
          case Prune p -> prune(p.snapshotIndex());
          case Compacted c -> {
            int n = mirror.compact(c.revision());
            LOG.info("compacted {}'s history to revision {}: {} older rows dropped", mirror.file(), c.revision(), n);
          }
        }
      }
    } catch (StorageException e) {
      fail(e);
    }
  }

  /**
   * After a snapshot: below it, keeps at most {@code log.retention} entries, and none applied longer ago than
   * {@code log.retention.age}; then gives freed pages back to the file system, a few megabytes per transaction.
   * The byte bound is kept by {@link #keepUnderBytes} on a timer.
   */
  private void prune(long snapshotIndex) throws StorageException {
    long upTo = Math.min(snapshotIndex, mirror.maxIndex() - retention);
    if (retentionAge != null) {
      upTo = Math.max(upTo, Math.min(snapshotIndex,
          mirror.lastIndexAppliedBefore(java.time.Instant.now().minus(retentionAge))));
    }
    if (upTo >= 0) {
      int n = mirror.prune(upTo);
      publish();
      if (n > 0) {
        LOG.info("pruned {} log entries up to index {} from {} (log.retention {} entries{})", n, upTo,
            mirror.file(), retention, retentionAge == null ? "" : ", log.retention.age " + retentionAge);
      }
    }
    keepUnderBytes();
    reclaim();
  }

  /**
   * Publishes what the file holds now that everything written is committed. Its first index is read from the file
   * each time (one primary-key lookup, once per commit or prune): pruning may take none of what a bound names, and a
   * replaced Raft log starts the file again at its first entry ({@link LogMirror#entry}). A failed read keeps the
   * last first index: the figure is for metrics, and mirroring goes on.
   */
  private void publish() {
    long last = mirror.maxIndex();
    long first = committed.firstIndex();
    try {
      first = last < 0 ? -1 : mirror.minIndex();
    } catch (StorageException e) {
      LOG.warn("cannot read the first entry's index in {} ({}); kvraft_mirror_rows keeps its last value until the next"
          + " commit", mirror.file(), e.getMessage());
    }
    committed = new Committed(first, last, mirror.maxRevision());
  }

  private void commit() {
    if (broken) {
      return;
    }
    try {
      mirror.commit();
      publish();
      long now = System.nanoTime();
      if (retentionBytes < Long.MAX_VALUE && now - nextSizeCheck >= 0) {
        nextSizeCheck = now + SIZE_CHECK_NANOS;
        if (keepUnderBytes()) {
          reclaim();
        }
      }
    } catch (StorageException e) {
      fail(e);
    }
  }

  /**
   * Writer thread, every {@link #SIZE_CHECK_NANOS}: past {@code log.retention.bytes}, the oldest entries go, above
   * the snapshot too (recovery replays Raft's log, never this copy), until the rows take 90% of it; the newest
   * entry always stays; true when it pruned (the caller gives the pages back). Between two snapshots a busy node writes more than a gigabyte of rows, so waiting for
   * the next snapshot would let the file grow far past the bound.
   */
  private boolean keepUnderBytes() throws StorageException {
    long live = mirror.liveBytes();
    if (live <= retentionBytes) {
      return false;
    }
    long upTo = Math.min(mirror.maxIndex() - 1, mirror.indexAtFraction((live - 0.9 * retentionBytes) / live));
    if (upTo >= 0) {
      int n = mirror.prune(upTo);
      publish();
      LOG.info("pruned {} log entries up to index {} from {}: its rows took {} bytes, over log.retention.bytes {}",
          n, upTo, mirror.file(), live, retentionBytes);
    }
    return true;
  }

  /** Gives free pages back to the file system, {@value #RECLAIM_PAGES} per transaction. */
  private void reclaim() throws StorageException {
    for (int step = 0; step < RECLAIM_STEPS; step++) {
      if (mirror.reclaim(RECLAIM_PAGES) < RECLAIM_PAGES) {
        break;
      }
    }
  }

  private void fail(StorageException e) {
    broken = true;
    failed = true;
    LOG.error("the log mirror failed: {}; kvraft.db stops recording until this node restarts, the store"
        + " itself is unaffected (check the disk, then restart the node)", e.getMessage());
  }
}
