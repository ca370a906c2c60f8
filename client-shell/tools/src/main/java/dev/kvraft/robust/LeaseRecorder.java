package dev.kvraft.robust;

import dev.kvraft.client.KvClient;
import dev.kvraft.client.KvException;
import dev.kvraft.client.LeaseNotFoundException;
import dev.kvraft.client.Watcher;
import dev.kvraft.proto.Event;
import dev.kvraft.proto.Watch;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A lease kept alive through a round's fault: a key on a lease of {@value #TTL_SECONDS} s, renewed every second by
 * its own thread ({@code kvraft-torture-lease}), which records when each renewal that was acknowledged had been sent;
 * a watcher records when the key's delete arrived, if it did. The lease may legitimately expire when no renewal got
 * through for a whole TTL (every node down); it must never expire early: a delete seen before a TTL had passed since
 * an acknowledged renewal was sent is a bug, whatever the fault.
 */
public final class LeaseRecorder implements AutoCloseable {
  static final long TTL_SECONDS = 3;

  private final KvClient client;
  private final long lease;
  private final String key;
  private final List<Long> renewalsSent = new CopyOnWriteArrayList<>();
  private final AtomicLong deleteSeen = new AtomicLong();
  private final Watcher watcher;
  private final Thread renewer;
  private volatile boolean stop;

  private LeaseRecorder(KvClient client, long lease, String key) {
    this.client = client;
    this.lease = lease;
    this.key = key;
    this.watcher = client.watch(Watch.newBuilder().setKey(KvClient.utf8(key)).setNoPut(true).build(),
        (events, revision) -> {
          for (Event e : events) {
            deleteSeen.compareAndSet(0, System.nanoTime());
          }
        });
    this.renewer = Thread.ofPlatform().name("kvraft-torture-lease").start(this::renew);
  }

  public static LeaseRecorder start(Cluster cluster, String key) {
    var client = cluster.access().client(String.join(",", cluster.addresses())).timeout(Duration.ofSeconds(2))
        .connectTimeout(Duration.ofMillis(500)).build();
    long lease = client.leaseGrant(TTL_SECONDS).getId();
    client.put(KvClient.utf8(key), KvClient.utf8("alive"), lease);
    return new LeaseRecorder(client, lease, key);
  }

  private void renew() {
    while (!stop && deleteSeen.get() == 0) {
      long sent = System.nanoTime();
      try {
        client.leaseKeepAliveOnce(lease);
        renewalsSent.add(sent);
      } catch (LeaseNotFoundException e) {
        return;
      } catch (KvException e) {
        // no leader or node for a moment: try again
      }
      try {
        Thread.sleep(Math.max(0, 1000 - TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - sent)));
      } catch (InterruptedException e) {
        return;
      }
    }
  }

  /** What is wrong (empty: the lease never expired early). */
  public List<String> check() {
    stop = true;
    var problems = new ArrayList<String>();
    long deleted = deleteSeen.get();
    if (deleted != 0) {
      long lastBefore = renewalsSent.stream().filter(s -> s < deleted).mapToLong(Long::longValue).max().orElse(0);
      long sinceRenewal = deleted - lastBefore;
      if (lastBefore != 0 && sinceRenewal < TimeUnit.SECONDS.toNanos(TTL_SECONDS)) {
        problems.add("lease " + lease + " expired early: its key's delete arrived " + sinceRenewal / 1_000_000
            + " ms after an acknowledged renewal was sent (TTL " + TTL_SECONDS + " s)");
      }
    }
    return problems;
  }

  /** Whether the lease expired during the round (legitimately or not). */
  public boolean expired() {
    return deleteSeen.get() != 0;
  }

  @Override
  public void close() throws InterruptedException {
    stop = true;
    renewer.interrupt();
    renewer.join(TimeUnit.SECONDS.toMillis(5));
    watcher.close();
    try {
      client.leaseRevoke(lease);
    } catch (KvException e) {
      // gone already, or the cluster is down: it expires by itself
    }
    client.close();
  }
}
