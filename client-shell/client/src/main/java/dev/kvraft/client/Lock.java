package dev.kvraft.client;

import com.google.protobuf.ByteString;
import dev.kvraft.proto.Compare;
import dev.kvraft.proto.Consistency;
import dev.kvraft.proto.Event;
import dev.kvraft.proto.Get;
import dev.kvraft.proto.Op;
import dev.kvraft.proto.Put;
import dev.kvraft.proto.Scan;
import dev.kvraft.proto.Txn;
import java.util.concurrent.CountDownLatch;

/**
 * A distributed lock built only on leases, transactions and watches, as etcd's {@code concurrency.Mutex}: the holder
 * is the key under {@code NAME/} with the lowest create revision. Each contender writes its own key
 * ({@code NAME/<lease id in hex>}) with its session lease, then waits until the key just before its own is deleted
 * (its holder unlocked, or died and its lease expired). Nothing on the server knows about locks.
 *
 * <p>The lock is held while its lease lives: {@link #isHeld()} turns false if the lease is lost or may be (no
 * renewal succeeded for a whole TTL: the process could not reach the cluster's majority), and whoever relies on the
 * lock must stop then.
 */
public final class Lock implements AutoCloseable {
  private final KvClient client;
  private final String name;
  private final ByteString key;
  private final long lease;
  private final KeepAlive keepAlive;
  private final long revision;

  private Lock(KvClient client, String name, ByteString key, long lease, KeepAlive keepAlive, long revision) {
    this.client = client;
    this.name = name;
    this.key = key;
    this.lease = lease;
    this.keepAlive = keepAlive;
    this.revision = revision;
  }

  static Lock acquire(KvClient client, String name, long ttlSeconds) throws InterruptedException {
    return acquire(client, name, ttlSeconds, ByteString.EMPTY);
  }

  /** As a lock, with {@code value} in the key (an election's candidate publishes itself there). */
  static Lock acquire(KvClient client, String name, long ttlSeconds, ByteString value) throws InterruptedException {
    if (name.isEmpty()) {
      throw new IllegalArgumentException("a lock needs a name");
    }
    long asked = System.nanoTime();
    var grant = client.leaseGrant(ttlSeconds);
    // The lease lives at least its TTL from when it was asked for; not renewed by then, the lock may be another's.
    var keepAlive = client.keepAlive(grant.getId(), asked + java.util.concurrent.TimeUnit.SECONDS.toNanos(
        grant.getTtlSeconds()));
    var prefix = KvClient.utf8(name + "/");
    var key = prefix.concat(KvClient.utf8(Long.toHexString(grant.getId())));
    try {
      // Create our key if it is not there (a retried call may have created it already).
      var created = client.txn(Txn.newBuilder()
          .addCompare(Compare.newBuilder().setKey(key).setTarget(Compare.Target.CREATE_REVISION)
              .setOperator(Compare.Operator.EQUAL).setCreateRevision(0))
          .addSuccess(Op.newBuilder().setPut(Put.newBuilder().setKey(key).setValue(value).setLease(grant.getId())))
          .addFailure(Op.newBuilder().setGet(Get.newBuilder().setKey(key))).build());
      long mine = created.getSucceeded() ? client.get(key, Consistency.LINEARIZABLE).orElseThrow(
          () -> new LeaseNotFoundException("lost the lease of lock '" + name + "' right after taking a place in line:"
              + " its key " + key.toStringUtf8() + " is gone")).getCreateRevision()
          : created.getResults(0).getGet().getKv().getCreateRevision();
      while (true) {
        var waiting = client.call(dev.kvraft.proto.Request.newBuilder().setScan(Scan.newBuilder().setStart(prefix)
            .setEnd(KvClient.prefixEnd(prefix)).setKeysOnly(true).setLimit(0)));
        ByteString predecessor = null;
        long best = 0;
        for (var kv : waiting.getScan().getKvsList()) {
          if (kv.getCreateRevision() < mine && kv.getCreateRevision() > best) {
            best = kv.getCreateRevision();
            predecessor = kv.getKey();
          }
        }
        if (!keepAlive.isAlive()) {
          // Also when no key comes before ours: its keep-alive gave up, so the lease expires soon if not already.
          throw new LeaseNotFoundException("lost the lease of lock '" + name + "' while waiting: "
              + keepAlive.lostBecause());
        }
        if (predecessor == null) {
          // No key before ours, but ours must still be there: while we waited, our lease may have expired (or been
          // revoked) and our key with it, and a later contender, seeing no key before its own, may hold the lock.
          if (!ownKeyLives(client, key, mine, waiting.getScan())) {
            throw new LeaseNotFoundException("lost the lease of lock '" + name + "' while waiting: its key "
                + key.toStringUtf8() + " is gone" + (keepAlive.lostBecause().isEmpty() ? ""
                    : " (" + keepAlive.lostBecause() + ")"));
          }
          return new Lock(client, name, key, grant.getId(), keepAlive, mine);
        }
        awaitDelete(client, predecessor, waiting.getHeader().getRevision() + 1);
      }
    } catch (RuntimeException | InterruptedException e) {
      keepAlive.close();
      try {
        client.leaseRevoke(grant.getId());
      } catch (KvException ignored) {
        // it expires by itself
      }
      throw e;
    }
  }

  /**
   * Whether our key, as created at revision {@code mine}, is in {@code scan}, or, when the scan stopped before it (a
   * page), is still there now: a key with the same create revision is the same key, never deleted in between.
   */
  private static boolean ownKeyLives(KvClient client, ByteString key, long mine, dev.kvraft.proto.ScanResult scan) {
    for (var kv : scan.getKvsList()) {
      if (kv.getKey().equals(key)) {
        return kv.getCreateRevision() == mine;
      }
    }
    return client.get(key, Consistency.LINEARIZABLE).map(kv -> kv.getCreateRevision() == mine).orElse(false);
  }

  /** Waits until {@code key} is deleted at or after {@code fromRevision}. */
  private static void awaitDelete(KvClient client, ByteString key, long fromRevision) throws InterruptedException {
    var gone = new CountDownLatch(1);
    try (var w = client.watch(dev.kvraft.proto.Watch.newBuilder().setKey(key).setStartRevision(fromRevision)
        .setNoPut(true).build(), new WatchListener() {
          @Override
          public void onEvents(java.util.List<Event> events, long revision) {
            gone.countDown();
          }

          @Override
          public void onError(KvException e) {
            gone.countDown(); // look again
          }
        })) {
      gone.await();
    }
  }

  public String name() {
    return name;
  }

  /** The key that holds the lock, {@code NAME/<lease id in hex>}. */
  public ByteString key() {
    return key;
  }

  public long leaseId() {
    return lease;
  }

  /** The revision the lock's key was created at: a fencing token that only grows from holder to holder. */
  public long revision() {
    return revision;
  }

  /** False once the lock's lease was lost: the lock may be someone else's now. */
  public boolean isHeld() {
    return keepAlive.isAlive();
  }

  /** Stops renewing without unlocking, as a process killed while holding it would (for tests). */
  void abandon() {
    keepAlive.close();
  }

  /** Unlocks: the key and its lease go. */
  @Override
  public void close() {
    keepAlive.close();
    try {
      client.leaseRevoke(lease);
    } catch (LeaseNotFoundException ignored) {
      // already expired: nothing held
    }
  }
}
