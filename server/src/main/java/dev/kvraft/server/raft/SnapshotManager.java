package dev.kvraft.server.raft;

import dev.kvraft.proto.KeyValue;
import dev.kvraft.server.db.DatabaseLoop;
import dev.kvraft.server.db.Snapshotter;
import dev.kvraft.storage.SnapshotFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.ratis.server.protocol.TermIndex;
import org.apache.ratis.server.storage.FileInfo;
import org.apache.ratis.statemachine.SnapshotRetentionPolicy;
import org.apache.ratis.statemachine.impl.SingleFileSnapshotInfo;
import org.apache.ratis.util.MD5FileUtil;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes snapshots on its own thread, {@code kvraft-snapshot}, so that neither Ratis's apply thread nor the
 * database loop waits for the disk: the loop only makes a point-in-time copy of the map (the one pause applies
 * take), this thread writes it as a SQLite file into Ratis's {@code sm/} directory, adds the {@code .md5}, and
 * registers it, so Ratis can purge its log below it and ship it to a lagging follower. The newest two are kept.
 *
 * <p>Ratis asks for a snapshot through {@link #onRaftTrigger} every apply round once {@code snapshot.threshold}
 * entries passed; the answer is always the newest snapshot already on disk, and the first ask starts a new one.
 * A failure is logged once, leaves the previous snapshot in place, and the next attempt waits another threshold of
 * entries.
 *
 * <p>Thread-safety: {@code inProgress} and {@code retryAfterIndex} are the only shared mutable state, atomics.
 */
final class SnapshotManager implements Snapshotter, AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(SnapshotManager.class);
  static final int KEEP = 2;

  private final KvSnapshotStorage storage;
  private final DatabaseLoop loop;
  private final Path tmpDir;
  private final long threshold;
  private final ExecutorService writer = Executors.newSingleThreadExecutor(
      r -> Thread.ofPlatform().name("kvraft-snapshot").daemon(true).unstarted(r));
  private final AtomicBoolean inProgress = new AtomicBoolean();
  private volatile long retryAfterIndex = -1;
  private volatile Path smDir;

  SnapshotManager(KvSnapshotStorage storage, DatabaseLoop loop, Path tmpDir, long threshold) {
    this.storage = storage;
    this.loop = loop;
    this.tmpDir = tmpDir;
    this.threshold = threshold;
  }

  void init(Path stateMachineDir) {
    this.smDir = stateMachineDir;
  }

  /** The newest registered snapshot's index, or -1. */
  long latestIndex() {
    var latest = storage.getLatestSnapshot();
    return latest == null ? -1 : latest.getIndex();
  }

  /**
   * On Ratis's apply thread: starts a snapshot unless one is running or the newest is less than a threshold old
   * (Ratis learns of a finished snapshot one round late); returns the newest one on disk. Never blocks.
   */
  long onRaftTrigger(long appliedIndex) {
    long latest = latestIndex();
    if (appliedIndex - latest >= threshold && appliedIndex >= retryAfterIndex
        && inProgress.compareAndSet(false, true)) {
      loop.call(loop::pointInTime)
          .thenCompose(this::write)
          .whenComplete((w, err) -> {
            inProgress.set(false);
            if (err != null) {
              retryAfterIndex = appliedIndex + threshold;
            }
          });
    }
    return latest;
  }

  @Override
  public CompletableFuture<Written> write(PointInTime state) {
    return CompletableFuture.supplyAsync(() -> {
      try {
        return writeNow(state);
      } catch (IOException | RuntimeException e) {
        LOG.error("snapshot at index {} failed: {}; the previous snapshot (index {}) stays in place and the next"
            + " attempt comes after {} more entries", state.index(), e.getMessage(), latestIndex(), threshold);
        throw new CompletionException(e);
      }
    }, writer);
  }

  private Written writeNow(PointInTime s) throws IOException {
    var dir = smDir;
    if (dir == null) {
      throw new IOException("the state machine directory is not known yet");
    }
    long start = System.nanoTime();
    var latest = storage.getLatestSnapshot();
    Path file;
    if (latest != null && latest.getIndex() == s.index() && latest.getTerm() == s.term()) {
      file = latest.getFile().getPath();
    } else {
      var built = SnapshotFiles.build(tmpDir, s.term(), s.index(), s.revision(), s.configuration(),
          s.kvs().size(), rows(s.kvs()));
      var md5 = MD5FileUtil.computeMd5ForFile(built.toFile());
      // Under the storage's lock, Ratis's cleanup never sees the file without its .md5.
      synchronized (storage.lock()) {
        file = SnapshotFiles.moveInto(built, dir, s.term(), s.index());
        MD5FileUtil.saveMD5File(file.toFile(), md5);
        storage.updateLatestSnapshot(new SingleFileSnapshotInfo(new FileInfo(file, md5),
            TermIndex.valueOf(s.term(), s.index())));
      }
      storage.cleanupOldSnapshots(new SnapshotRetentionPolicy() {
        @Override
        public int getNumSnapshotsRetained() {
          return KEEP;
        }
      });
      loop.snapshotTaken(s.index());
    }
    long writeNanos = System.nanoTime() - start;
    long bytes = Files.size(file);
    LOG.info("snapshot at index {} (term {}, revision {}): {} keys, {} bytes; applies paused {} ms for the copy,"
        + " writing took {} ms; {}", s.index(), s.term(), s.revision(), s.kvs().size(), bytes,
        s.copyNanos() / 1_000_000, writeNanos / 1_000_000, file);
    return new Written(s.term(), s.index(), s.revision(), s.kvs().size(), file.toString(), bytes, s.copyNanos(),
        writeNanos);
  }

  private static Iterator<SnapshotFiles.Row> rows(java.util.List<KeyValue> kvs) {
    var it = kvs.iterator();
    return new Iterator<>() {
      @Override
      public boolean hasNext() {
        return it.hasNext();
      }

      @Override
      public SnapshotFiles.Row next() {
        var kv = it.next();
        return new SnapshotFiles.Row(kv.getKey().toByteArray(), kv.getValue().toByteArray(), kv.getCreateRevision(),
            kv.getModRevision(), kv.getVersion());
      }
    };
  }

  @Override
  public void close() {
    writer.shutdownNow();
  }
}
