package dev.kvraft.server.backup;

import dev.kvraft.server.db.BackupWriter;
import dev.kvraft.server.db.MemberToken;
import dev.kvraft.server.db.Snapshotter;
import dev.kvraft.storage.SnapshotFiles;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The backups a node holds for clients to read: each a SQLite file in the snapshot format (without the member
 * token), written under {@code <data.dir>/backup/} by the thread {@code kvraft-backup} and read back in chunks of
 * {@link #CHUNK_BYTES} by the connections that ask ({@link #chunk}). A file is deleted once its last chunk is read,
 * when nobody read from it for {@link #IDLE} (the same thread sweeps every few seconds), and when the node stops;
 * at start the directory is emptied of what a crash left. At most {@link #MAX_OPEN} backups exist at once, being
 * written or waiting to be read, so clients cannot fill the disk with copies.
 *
 * <p>Thread-safety: {@code open} is a concurrent map and {@code reserved} an atomic; a backup's file is written by
 * the backup thread before it enters {@code open}, and only read afterwards. Deletion goes through {@code open.remove}, so
 * exactly one thread deletes each file.
 */
public final class BackupFiles implements BackupWriter, AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(BackupFiles.class);
  public static final int MAX_OPEN = 2;
  public static final int CHUNK_BYTES = 1 << 20;
  static final Duration IDLE = Duration.ofSeconds(60);
  private static final String SUFFIX = ".backup";

  private final Path dir;
  private final String nodeId;
  private final Duration idle;
  private final LongSupplier clock;
  private final ScheduledExecutorService thread = Executors.newSingleThreadScheduledExecutor(
      r -> Thread.ofPlatform().name("kvraft-backup").daemon(true).unstarted(r));
  private final ConcurrentHashMap<String, Open> open = new ConcurrentHashMap<>();
  private final AtomicInteger reserved = new AtomicInteger();
  private final SecureRandom random = new SecureRandom();

  private record Open(Path file, long bytes, AtomicLong lastRead) {}

  /** A piece of a backup; {@code last} when it ends the file (which is then deleted). */
  public record Chunk(byte[] data, boolean last) {}

  /** {@link #chunk} names a backup this node does not hold, or an offset past its end. */
  public static final class Missing extends Exception {
    Missing(String message) {
      super(message, null, false, false);
    }
  }

  private BackupFiles(Path dir, String nodeId, Duration idle, LongSupplier clock) {
    this.dir = dir;
    this.nodeId = nodeId;
    this.idle = idle;
    this.clock = clock;
  }

  /** Empties {@code dir} of any backup a previous run left and starts the sweeper. */
  public static BackupFiles open(Path dir, String nodeId) throws IOException {
    return open(dir, nodeId, IDLE, System::nanoTime);
  }

  static BackupFiles open(Path dir, String nodeId, Duration idle, LongSupplier clock) throws IOException {
    Files.createDirectories(dir);
    try (var left = Files.list(dir)) {
      for (var f : left.toList()) {
        Files.deleteIfExists(f);
      }
    }
    var files = new BackupFiles(dir, nodeId, idle, clock);
    long every = Math.max(100, idle.toMillis() / 6);
    files.thread.scheduleWithFixedDelay(files::sweep, every, every, TimeUnit.MILLISECONDS);
    return files;
  }

  @Override
  public CompletableFuture<Made> write(Supplier<Snapshotter.PointInTime> state) {
    if (reserved.incrementAndGet() > MAX_OPEN) {
      reserved.decrementAndGet();
      return CompletableFuture.failedFuture(new Full("node " + nodeId + " already holds " + MAX_OPEN + " backups"
          + " (the most it keeps at once); retry once one is read, or " + idle.toSeconds() + " s after its last read"));
    }
    Snapshotter.PointInTime copy;
    try {
      copy = state.get();
    } catch (RuntimeException e) {
      reserved.decrementAndGet();
      return CompletableFuture.failedFuture(e);
    }
    return CompletableFuture.supplyAsync(() -> {
      try {
        return writeNow(copy);
      } catch (IOException | RuntimeException e) {
        reserved.decrementAndGet();
        LOG.error("backup at revision {} failed: {}; nothing is left of it in {}", copy.revision(), e.getMessage(),
            dir);
        throw new CompletionException(e);
      }
    }, thread);
  }

  private Made writeNow(Snapshotter.PointInTime s) throws IOException {
    long start = System.nanoTime();
    // A backup leaves the cluster: the member token, which lets a connection act as a member, stays behind.
    var system = new HashMap<>(s.system());
    system.remove(MemberToken.SNAPSHOT_NAME);
    var built = SnapshotFiles.build(dir, s.term(), s.index(), s.revision(), s.configuration(), system,
        s.kvs().size(), s.rows());
    var id = HexFormat.of().formatHex(bytes(16));
    var file = dir.resolve(id + SUFFIX);
    try {
      Files.move(built, file);
      var sha = sha256(file);
      long size = Files.size(file);
      open.put(id, new Open(file, size, new AtomicLong(clock.getAsLong())));
      LOG.info("backup {} at revision {} (index {}): {} keys, {} bytes in {} ms; waiting for the client to read it",
          id.substring(0, 8), s.revision(), s.index(), s.kvs().size(), size,
          TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
      return new Made(id, size, sha, s.term(), s.index(), s.revision(), s.kvs().size());
    } catch (IOException | RuntimeException e) {
      Files.deleteIfExists(built);
      Files.deleteIfExists(file);
      throw e;
    }
  }

  private byte[] bytes(int n) {
    var b = new byte[n];
    random.nextBytes(b);
    return b;
  }

  /**
   * Any thread (a connection's): up to {@link #CHUNK_BYTES} of backup {@code id} from {@code offset}. The chunk
   * that reaches the end deletes the file.
   */
  public Chunk chunk(String id, long offset) throws Missing, IOException {
    var b = open.get(id);
    if (b == null) {
      throw new Missing("node " + nodeId + " holds no backup '" + id + "': it was read to the end, went unread for "
          + idle.toSeconds() + " s, or was made by another node or before a restart; start a new backup");
    }
    if (offset < 0 || offset > b.bytes()) {
      throw new Missing("backup '" + id + "' is " + b.bytes() + " bytes; offset " + offset + " is past its end");
    }
    b.lastRead().set(clock.getAsLong());
    int n = (int) Math.min(CHUNK_BYTES, b.bytes() - offset);
    var buf = ByteBuffer.allocate(n);
    try (var ch = FileChannel.open(b.file(), StandardOpenOption.READ)) {
      while (buf.hasRemaining()) {
        if (ch.read(buf, offset + buf.position()) < 0) {
          throw new IOException("backup file " + b.file() + " ended early");
        }
      }
    } catch (java.nio.file.NoSuchFileException e) {
      throw new Missing("backup '" + id + "' was deleted while being read (read to the end on another connection?)");
    }
    boolean last = offset + n == b.bytes();
    if (last) {
      drop(id, "read to the end");
    }
    return new Chunk(buf.array(), last);
  }

  /** How many backups are being written or waiting to be read. */
  public int openCount() {
    return reserved.get();
  }

  private void sweep() {
    long now = clock.getAsLong();
    for (var e : open.entrySet()) {
      if (now - e.getValue().lastRead().get() > idle.toNanos()) {
        drop(e.getKey(), "unread for " + idle.toSeconds() + " s");
      }
    }
  }

  private void drop(String id, String why) {
    var b = open.remove(id);
    if (b == null) {
      return;
    }
    reserved.decrementAndGet();
    try {
      Files.deleteIfExists(b.file());
      LOG.info("backup {} deleted: {}", id.substring(0, 8), why);
    } catch (IOException e) {
      LOG.warn("backup {} ({}): could not delete {}: {}; delete it by hand", id.substring(0, 8), why, b.file(),
          e.getMessage());
    }
  }

  private static byte[] sha256(Path file) throws IOException {
    try (InputStream in = Files.newInputStream(file)) {
      var md = MessageDigest.getInstance("SHA-256");
      var buf = new byte[64 * 1024];
      for (int n; (n = in.read(buf)) > 0; ) {
        md.update(buf, 0, n);
      }
      return md.digest();
    } catch (NoSuchAlgorithmException e) {
      throw new UncheckedIOException(new IOException("this JDK has no SHA-256", e));
    }
  }

  /** Stops the backup thread and deletes every backup file. */
  @Override
  public void close() {
    thread.shutdownNow();
    try {
      thread.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    for (var id : open.keySet()) {
      drop(id, "the node is stopping");
    }
  }
}
