package dev.kvraft.server.raft;

import dev.kvraft.server.db.KvState;
import dev.kvraft.storage.SnapshotFiles;
import dev.kvraft.storage.StorageException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Reads a snapshot file into a state's maps on two threads: the caller reads the rows from SQLite while
 * {@code kvraft-snapshot-load} builds the maps from them ({@link KvState.Loader}), batch by batch through a small
 * bounded queue. For a million keys each half takes a few hundred milliseconds, so a restart waits for the longer
 * one instead of their sum.
 *
 * <p>Ownership: the loader belongs to the builder thread until it has built the maps; the queue and the result's
 * future are the only state both threads touch.
 */
final class SnapshotLoad {
  private static final int BATCH = 4096;
  private static final List<KvState.Entry> END = List.of();

  /** A snapshot's meta and its maps, ready for the loop to take. */
  record Loaded(SnapshotFiles.Meta meta, KvState.Contents contents) {}

  private SnapshotLoad() {}

  static Loaded read(Path file) throws StorageException, IOException {
    var batches = new ArrayBlockingQueue<List<KvState.Entry>>(16);
    var built = new CompletableFuture<KvState.Contents>();
    var builder = Thread.ofPlatform().name("kvraft-snapshot-load").daemon(true).start(() -> {
      var loader = new KvState.Loader();
      try {
        for (var batch = batches.take(); batch != END; batch = batches.take()) {
          batch.forEach(loader::add);
        }
        built.complete(loader.build());
      } catch (InterruptedException | RuntimeException | Error e) { // interrupted: the reader gave up
        built.completeExceptionally(e);
      }
    });
    try {
      var feed = new Feed(batches, built);
      var meta = SnapshotFiles.read(file, feed);
      feed.finish();
      return new Loaded(meta, built.get());
    } catch (Handoff e) {
      throw new IOException("loading snapshot " + file + ": " + e.getMessage(), e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while loading snapshot " + file, e);
    } catch (ExecutionException e) {
      throw new IOException("building the maps of snapshot " + file + " failed: " + e.getCause(), e.getCause());
    } finally {
      builder.interrupt(); // done already, or no longer needed after a failed read
    }
  }

  /** The reader's side: rows into batches, each handed to the builder when full, then the end. Reader thread only. */
  private static final class Feed implements Consumer<SnapshotFiles.Row> {
    private final ArrayBlockingQueue<List<KvState.Entry>> batches;
    private final CompletableFuture<?> built;
    private List<KvState.Entry> batch = new ArrayList<>(BATCH);

    Feed(ArrayBlockingQueue<List<KvState.Entry>> batches, CompletableFuture<?> built) {
      this.batches = batches;
      this.built = built;
    }

    @Override
    public void accept(SnapshotFiles.Row r) {
      batch.add(new KvState.Entry(r.key(), r.value(), r.createRevision(), r.modRevision(), r.version()));
      if (batch.size() == BATCH) {
        hand(batch);
        batch = new ArrayList<>(BATCH);
      }
    }

    /** Hands over the last, partial batch and the end. */
    void finish() {
      hand(batch);
      hand(END);
    }

    /** Gives the builder a batch; fails instead of waiting forever when the builder has died. */
    private void hand(List<KvState.Entry> b) {
      try {
        while (!batches.offer(b, 50, TimeUnit.MILLISECONDS)) {
          if (built.isDone()) {
            throw new Handoff("the map builder stopped early",
                built.isCompletedExceptionally() ? built.exceptionNow() : null);
          }
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new Handoff("interrupted", e);
      }
    }
  }

  /** A failed hand-off, carried out of the row callback. */
  private static final class Handoff extends RuntimeException {
    Handoff(String message, Throwable cause) {
      super(message, cause);
    }
  }
}
