package dev.kvraft.server.raft;

import dev.kvraft.server.db.StateMachineSink;
import dev.kvraft.server.db.KvState;
import dev.kvraft.server.db.Snapshotter;
import dev.kvraft.storage.SnapshotFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
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
 * entries passed; the answer is always the newest snapshot already on disk, and the ask that finds one due
 * ({@link #dueAfter}) starts a new one. Each node's first snapshot waits an extra <em>phase</em>, a share of the
 * threshold that differs per node, and every later one comes a threshold after the previous: so the nodes take
 * their snapshots one after another instead of all at the same index, and never more than one node's snapshot
 * competes with the load for the CPU (measured: three at once made the cluster's worst latencies). Every ask also
 * makes Ratis wait for the applies in flight and list the snapshot directory, so they are kept to the window
 * between the threshold and the snapshot's registration. A failure is logged once, leaves the previous snapshot
 * in place, and the next attempt waits another threshold of entries.
 *
 * <p>While Ratis installs a snapshot from the leader, none of this node's goes into {@code sm/}: Ratis moves
 * {@code sm/} aside and renames its own directory in, and one placed in between would recreate {@code sm/} and fail
 * that rename. The hold starts at {@code pause()} ({@link #installing}) and ends at whichever comes first:
 * <ul>
 *   <li>{@code reinitialize()} ({@link #installed}): the install is done;
 *   <li>the apply of an entry above the commit index Ratis had when it paused ({@link #applied}): the install failed
 *       and was given up. Ratis 3.3.0 calls {@code pause()} on the install's thread under its server lock, then
 *       renames the directory and, only if that worked, tells its apply thread to reload, which calls
 *       {@code reinitialize()} before it applies anything more. So between {@code pause()} and {@code reinitialize()}
 *       the only entries applied are the ones the apply thread had under way, committed already; if the rename
 *       fails, nothing calls {@code reinitialize()} or tells the state machine, and the node goes on applying what
 *       the leader sends next (a new leader that still has those entries sends them instead of a snapshot). An entry
 *       committed after the pause is therefore applied only once Ratis has let go of {@code sm/}. Without this end
 *       the node took no snapshot of its own again until it restarted, while its log grew.
 * </ul>
 * Not covered: an append from an old leader, already past Ratis's lock when the install took it, could raise the
 * commit index while the rename runs; then a snapshot of ours can make that rename fail, and the leader sends the
 * snapshot again (which pauses, and holds, again). That needs a leader change between an append and an install to
 * the same follower.
 *
 * <p>Thread-safety: {@code inProgress}, {@code retryAfterIndex} and the counters behind {@link #stats()} are atomics
 * or volatile; {@code installPausedAt} is written under the storage's lock, which placing a snapshot holds, and read
 * without it by {@link #applied} on Ratis's apply thread (volatile).
 */
public final class SnapshotManager implements Snapshotter, AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(SnapshotManager.class);
  static final int KEEP = 2;

  private final KvSnapshotStorage storage;
  private final StateMachineSink loop;
  private final Path tmpDir;
  private final long threshold;
  private final long phase;
  private final ExecutorService writer = Executors.newSingleThreadExecutor(
      r -> Thread.ofPlatform().name("kvraft-snapshot").daemon(true).unstarted(r));
  private final AtomicBoolean inProgress = new AtomicBoolean();
  private volatile long retryAfterIndex = -1;
  private volatile Path smDir;
  private final java.util.concurrent.atomic.AtomicLong written = new java.util.concurrent.atomic.AtomicLong();
  private final java.util.concurrent.atomic.AtomicLong failed = new java.util.concurrent.atomic.AtomicLong();
  private volatile Written last;
  /**
   * While Ratis installs a snapshot from the leader ({@link #installing}), its commit index when it paused the state
   * machine; {@link #NOT_INSTALLING} otherwise. Written under {@code storage.lock()}.
   */
  private volatile long installPausedAt = NOT_INSTALLING;
  private static final long NOT_INSTALLING = Long.MIN_VALUE;

  /**
   * @param phase how many entries later than the threshold this node takes its first snapshot,
   *     {@code 0 <= phase < threshold}: see {@link #phase}
   */
  SnapshotManager(KvSnapshotStorage storage, StateMachineSink loop, Path tmpDir, long threshold, long phase) {
    if (threshold < 1 || phase < 0 || phase >= threshold) {
      throw new IllegalArgumentException("need threshold >= 1 and 0 <= phase < threshold, got threshold "
          + threshold + " and phase " + phase);
    }
    this.storage = storage;
    this.loop = loop;
    this.tmpDir = tmpDir;
    this.threshold = threshold;
    this.phase = phase;
  }

  /**
   * From {@code pause()}: Ratis is about to replace {@code sm/} with a snapshot from the leader; {@code committed} is
   * its commit index now. Waits for a snapshot being placed there; none goes there until {@link #installed}, or until
   * an entry above {@code committed} is applied ({@link #applied}).
   */
  void installing(long committed) {
    synchronized (storage.lock()) {
      installPausedAt = committed;
    }
  }

  /** From {@code reinitialize()}: the leader's snapshot is in {@code sm/} (loaded or not); ours go there again. */
  void installed() {
    synchronized (storage.lock()) {
      installPausedAt = NOT_INSTALLING;
    }
  }

  /**
   * On Ratis's apply thread, for each entry applied: one committed after the pause means the install was given up
   * (see the class comment), and this node's snapshots go into {@code sm/} again. A volatile read when none is held.
   */
  void applied(long index) {
    long pausedAt = installPausedAt;
    if (pausedAt == NOT_INSTALLING || index <= pausedAt) {
      return;
    }
    synchronized (storage.lock()) {
      if (installPausedAt != pausedAt) {
        return; // ended meanwhile, or a new install paused
      }
      installPausedAt = NOT_INSTALLING;
    }
    LOG.warn("a snapshot install from the leader paused the state machine at commit index {} and never finished"
        + " (Ratis logged why); entry {}, committed since, is applied, so this node takes its own snapshots again",
        pausedAt, index);
  }

  /** Node {@code position} of {@code nodes} (0-based, in id order) spreads its snapshots evenly among theirs. */
  static long phase(long threshold, int position, int nodes) {
    if (nodes < 1 || position < 0 || position >= nodes) {
      throw new IllegalArgumentException("position " + position + " is not one of " + nodes + " nodes");
    }
    return threshold * position / nodes;
  }

  /**
   * The applied index at which the snapshot after one at {@code latest} (-1: none yet) is due: a threshold after
   * it, and for a node's first snapshot its phase later still.
   */
  long dueAfter(long latest) {
    // A snapshot at index 0 is a seed (a new cluster's empty one, or a restored backup), not one this node took.
    return latest <= 0 ? threshold - 1 + phase : latest + threshold;
  }

  /**
   * At start-up, before any snapshot is written: remembers Ratis's {@code sm/} and deletes what a crash left in
   * {@code tmp/}, snapshots that were being built (each as large as the store; a node killed during its snapshots
   * would otherwise fill the disk with them, one per crash).
   */
  void init(Path stateMachineDir) {
    this.smDir = stateMachineDir;
    if (tmpDir == null || !Files.isDirectory(tmpDir)) {
      return;
    }
    try (var files = Files.list(tmpDir)) {
      for (var f : files.filter(SnapshotManager::unfinished).toList()) {
        long bytes = Files.size(f);
        Files.deleteIfExists(f);
        LOG.info("deleted {} ({} bytes), a snapshot left unfinished when the node stopped", f, bytes);
      }
    } catch (IOException e) {
      LOG.warn("cannot clean up unfinished snapshots in {}: {}; delete the snapshot.*.tmp files there by hand",
          tmpDir, e.getMessage());
    }
  }

  /** A file {@link SnapshotFiles#build} was writing: {@code snapshot.<term>_<index>.<random>.tmp}. */
  private static boolean unfinished(Path f) {
    var name = f.getFileName().toString();
    return name.startsWith("snapshot.") && name.endsWith(".tmp") && Files.isRegularFile(f);
  }

  /** The newest registered snapshot's index, or -1. */
  long latestIndex() {
    var latest = storage.getLatestSnapshot();
    return latest == null ? -1 : latest.getIndex();
  }

  /**
   * On Ratis's apply thread: starts a snapshot once it is due ({@link #dueAfter}), unless one is running (Ratis
   * learns of a finished snapshot one round late); returns the newest one on disk. Never blocks.
   */
  long onRaftTrigger(long appliedIndex) {
    long latest = latestIndex();
    if (appliedIndex >= dueAfter(latest) && appliedIndex >= retryAfterIndex
        && inProgress.compareAndSet(false, true)) {
      loop.pointInTime()
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
        failed.incrementAndGet();
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
      var built = SnapshotFiles.build(tmpDir, s.term(), s.index(), s.revision(), s.configuration(), s.system(),
          s.kvs().size(), s.rows());
      // The MD5 reads the whole file: not under the lock, which Ratis's cleanup and pause() wait for.
      var md5 = md5(built);
      // Under the storage's lock, Ratis's cleanup never sees the file without its .md5.
      synchronized (storage.lock()) {
        if (installPausedAt != NOT_INSTALLING) {
          Files.deleteIfExists(built);
          throw new IOException("a snapshot from the leader is being installed into " + dir + ", which Ratis"
              + " replaces; this one is dropped");
        }
        var placed = place(built, dir, s.term(), s.index(), md5);
        file = placed.getPath();
        storage.updateLatestSnapshot(new SingleFileSnapshotInfo(placed, TermIndex.valueOf(s.term(), s.index())));
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
    var w = new Written(s.term(), s.index(), s.revision(), s.kvs().size(), file.toString(), bytes, s.copyNanos(),
        writeNanos);
    written.incrementAndGet();
    last = w;
    return w;
  }

  /**
   * Puts a built snapshot into {@code dir} with its {@code .md5}: the {@code .md5} first, then the snapshot renamed in
   * and the directory fsynced once for both ({@link SnapshotFiles#moveInto}). A crash or a full disk between the two
   * steps leaves at most an {@code .md5} without its snapshot, which Ratis's search ignores and its cleanup deletes;
   * never a snapshot without its {@code .md5}, which Ratis passes over (a restart goes back to the older one) and never
   * deletes. On failure nothing of it is left, in {@code dir} or where it was built.
   */
  static FileInfo place(Path built, Path dir, long term, long index) throws IOException {
    return place(built, dir, term, index, md5(built));
  }

  /** The MD5 of a built snapshot; on failure it is deleted. */
  private static org.apache.ratis.io.MD5Hash md5(Path built) throws IOException {
    try {
      return MD5FileUtil.computeMd5ForFile(built.toFile());
    } catch (IOException | RuntimeException e) {
      Files.deleteIfExists(built);
      throw e;
    }
  }

  /** {@link #place(Path, Path, long, long)} with the MD5 computed already (outside any lock). */
  private static FileInfo place(Path built, Path dir, long term, long index, org.apache.ratis.io.MD5Hash md5)
      throws IOException {
    var target = dir.resolve(SnapshotFiles.fileName(term, index));
    var md5File = MD5FileUtil.getDigestFileForFile(target.toFile()).toPath();
    boolean moved = false;
    try {
      Files.createDirectories(dir);
      MD5FileUtil.saveMD5File(target.toFile(), md5);
      var file = SnapshotFiles.moveInto(built, dir, term, index);
      moved = true;
      return new FileInfo(file, md5);
    } catch (IOException | RuntimeException e) {
      Files.deleteIfExists(built);
      if (!moved && !Files.exists(target)) {
        Files.deleteIfExists(md5File);
      }
      throw e;
    }
  }

  /** Snapshots written and failed since start, and the last one written (null before the first); any thread. */
  public Stats stats() {
    return new Stats(written.get(), failed.get(), last);
  }

  /** What {@link #stats()} returns. */
  public record Stats(long written, long failed, Written last) {}

  @Override
  public void close() {
    writer.shutdownNow();
  }
}
