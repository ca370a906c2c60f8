package dev.kvraft.client;

import com.google.protobuf.ByteString;
import dev.kvraft.proto.Compare;
import dev.kvraft.proto.Consistency;
import dev.kvraft.proto.KeyValue;
import dev.kvraft.proto.Op;
import dev.kvraft.proto.Put;
import dev.kvraft.proto.Scan;
import dev.kvraft.proto.Txn;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * Leader election for the caller's own programs, as etcd's {@code concurrency.Election}, built like {@link Lock}
 * (leases, transactions, watches; nothing on the server): every candidate writes {@code NAME/<lease id>} holding
 * its value, the lowest create revision leads, and the others wait for the key before theirs to go.
 */
public final class Election {
  private final KvClient client;
  private final String name;
  private final ByteString prefix;

  Election(KvClient client, String name) {
    if (name.isEmpty()) {
      throw new IllegalArgumentException("an election needs a name");
    }
    this.client = client;
    this.name = name;
    this.prefix = KvClient.utf8(name + "/");
  }

  /** Waits until this candidate leads, publishing {@code value}; close the result (or {@link #resign}) to step down. */
  public Lock campaign(ByteString value, long ttlSeconds) throws InterruptedException {
    return Lock.acquire(client, name, ttlSeconds, value);
  }

  /** The leader publishes a new value; false when it no longer leads. */
  public boolean proclaim(Lock leadership, ByteString value) {
    return client.txn(Txn.newBuilder()
        .addCompare(Compare.newBuilder().setKey(leadership.key()).setTarget(Compare.Target.CREATE_REVISION)
            .setOperator(Compare.Operator.EQUAL).setCreateRevision(leadership.revision()))
        .addSuccess(Op.newBuilder().setPut(Put.newBuilder().setKey(leadership.key()).setValue(value)
            .setLease(leadership.leaseId()))).build()).getSucceeded();
  }

  /** Steps down: the next candidate leads. */
  public void resign(Lock leadership) {
    leadership.close();
  }

  /** Who leads now: the candidate key with the lowest create revision, with its value. */
  public Optional<KeyValue> leader() {
    return leaderAt().leader();
  }

  private record Seen(Optional<KeyValue> leader, long revision) {}

  /**
   * The leader and the revision it was read at. The candidates' keys are scanned without values, page by page (an
   * answer stops at the server's {@code limit.answer.bytes} or {@code limit.scan}), then the lowest is read with its
   * value. A candidate that came meanwhile has a higher create revision, so it cannot lead; one that left meanwhile
   * is found missing, and the search starts again.
   */
  private Seen leaderAt() {
    while (true) {
      KeyValue lowest = null;
      long revision = 0;
      var start = prefix;
      var end = KvClient.prefixEnd(prefix);
      while (true) {
        var r = client.call(dev.kvraft.proto.Request.newBuilder().setScan(Scan.newBuilder().setStart(start)
            .setEnd(end).setKeysOnly(true).setConsistency(Consistency.LINEARIZABLE).setLimit(0)));
        revision = r.getHeader().getRevision();
        var page = r.getScan();
        for (var kv : page.getKvsList()) {
          if (lowest == null || kv.getCreateRevision() < lowest.getCreateRevision()) {
            lowest = kv;
          }
        }
        if (!page.getMore() || page.getKvsCount() == 0) {
          break;
        }
        start = page.getKvs(page.getKvsCount() - 1).getKey().concat(ByteString.copyFrom(new byte[1]));
      }
      if (lowest == null) {
        return new Seen(Optional.empty(), revision);
      }
      var r = client.call(dev.kvraft.proto.Request.newBuilder().setGet(dev.kvraft.proto.Get.newBuilder()
          .setKey(lowest.getKey()).setConsistency(Consistency.LINEARIZABLE)));
      var got = r.getGet();
      if (got.hasKv() && got.getKv().getCreateRevision() == lowest.getCreateRevision()) {
        return new Seen(Optional.of(got.getKv()), r.getHeader().getRevision());
      }
    }
  }

  /**
   * Tells {@code listener} who leads now and at every change of leader or of its value, until the watcher is
   * closed; the same as {@link #observe(Consumer, Consumer)} with an {@code onError} that does nothing (the watcher's
   * {@link Watcher#isOpen()} then turns false).
   */
  public Watcher observe(Consumer<Optional<KeyValue>> listener) {
    return observe(listener, e -> {});
  }

  /**
   * Tells {@code listener} who leads now and at every change of leader or of its value, until the watcher is closed.
   * Calls come on the watch's delivery thread. After a change the leader is read again; while that read fails with
   * {@link UnavailableException}, {@link KvTimeoutException} or {@link OverloadedException} (the cluster is electing
   * its own leader, a node was lost) it is retried, backing off up to 2 s, so no change is missed. Any other failure
   * ends the observation, as do the watch's own (every node compacted the history, no permission, the client
   * closed): {@code onError} gets it, once, and the watcher is closed. The first leader is read on the caller's
   * thread, and a failure there is thrown.
   */
  public Watcher observe(Consumer<Optional<KeyValue>> listener, Consumer<KvException> onError) {
    var now = leaderAt();
    listener.accept(now.leader());
    long from = now.revision() + 1;
    var observer = new Observer(now.leader(), listener, onError);
    var watcher = client.watch(prefix, KvClient.prefixEnd(prefix), from, observer);
    observer.watcher = watcher;
    return watcher;
  }

  /** A leader read after a change failed for good: ends the watch, and {@link Observer#onError} passes it on. */
  private static final class ReadFailed extends RuntimeException {
    final KvException failure;

    ReadFailed(KvException failure) {
      super(failure.getMessage(), failure, false, false);
      this.failure = failure;
    }
  }

  /**
   * One {@link #observe}'s watch listener. Its fields belong to the watch's delivery thread, except
   * {@link #watcher}, set once the watch is started (null until then: a retry then takes the watch for open).
   */
  private final class Observer implements WatchListener {
    private static final long MAX_BACKOFF_MILLIS = 2_000;
    private final Consumer<Optional<KeyValue>> listener;
    private final Consumer<KvException> onError;
    private Optional<KeyValue> seen;
    volatile Watcher watcher;

    Observer(Optional<KeyValue> seen, Consumer<Optional<KeyValue>> listener, Consumer<KvException> onError) {
      this.seen = seen;
      this.listener = listener;
      this.onError = onError;
    }

    @Override
    public void onEvents(java.util.List<dev.kvraft.proto.Event> events, long revision) {
      var current = leaderRetrying();
      if (current != null && !current.equals(seen)) {
        seen = current;
        listener.accept(current);
      }
    }

    /** The leader now, retrying what may pass; null when the watcher was closed meanwhile. */
    private Optional<KeyValue> leaderRetrying() {
      long backoff = 100;
      while (true) {
        try {
          return leader();
        } catch (UnavailableException | KvTimeoutException | OverloadedException e) {
          if (client.isClosed()) {
            throw new ReadFailed(e);
          }
        } catch (KvException e) {
          throw new ReadFailed(e);
        }
        var w = watcher;
        if (w != null && w.isClosing()) {
          return null;
        }
        try {
          Thread.sleep(backoff);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new ReadFailed(new UnavailableException("interrupted while reading the leader of election " + name,
              e));
        }
        backoff = Math.min(MAX_BACKOFF_MILLIS, backoff * 2);
      }
    }

    @Override
    public void onError(KvException e) {
      onError.accept(e.getCause() instanceof ReadFailed f ? f.failure : e);
    }
  }
}
