package dev.kvraft.client;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Keeps one lease alive from {@link KvClient#keepAlive}: a virtual thread ({@code kvraft-keepalive-ID}) renews it
 * every third of its TTL (retrying sooner after a failed attempt) until {@link #close}, until the cluster says the
 * lease is gone, or until its client is closed (then {@link #isAlive()} turns false too: nothing renews the lease).
 * It does not revoke the lease on close: it then expires after its TTL, unless revoked.
 */
public final class KeepAlive implements AutoCloseable {
  private final KvClient client;
  private final long id;
  private final CountDownLatch stop = new CountDownLatch(1);
  private final Thread thread;
  private volatile boolean alive = true;
  private volatile String lostBecause = "";

  private KeepAlive(KvClient client, long id) {
    this.client = client;
    this.id = id;
    this.thread = Thread.ofVirtual().name("kvraft-keepalive-" + Long.toHexString(id)).unstarted(this::run);
  }

  static KeepAlive start(KvClient client, long id) {
    var k = new KeepAlive(client, id);
    k.thread.start();
    return k;
  }

  public long leaseId() {
    return id;
  }

  /**
   * False once the lease is gone (expired or revoked), or no longer renewed because the client was closed: whatever
   * it guarded is no longer held.
   */
  public boolean isAlive() {
    return alive;
  }

  /** Why {@link #isAlive()} turned false, or empty. */
  public String lostBecause() {
    return lostBecause;
  }

  private void run() {
    long waitMillis = 0;
    try {
      while (!stop.await(waitMillis, TimeUnit.MILLISECONDS)) {
        try {
          long ttl = client.leaseKeepAliveOnce(id);
          waitMillis = Math.max(100, TimeUnit.SECONDS.toMillis(ttl) / 3);
        } catch (LeaseNotFoundException e) {
          lostBecause = e.getMessage();
          alive = false;
          return;
        } catch (KvException e) {
          if (client.isClosed()) {
            break; // told below
          }
          waitMillis = 200; // no leader for a moment, a lost node: try again soon, well within the TTL
        }
      }
      if (client.isClosed()) {
        // Woken by the client's close() between two renewals, or a renewal failed because of it.
        lostBecause = "the client was closed: lease " + Long.toHexString(id) + " is no longer renewed";
        alive = false;
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      client.ended(this);
    }
  }

  /** Its client was closed: stop waiting for the next renewal, which could not be sent. */
  void clientClosed() {
    stop.countDown();
  }

  /** Stops renewing (the lease itself stays until it expires or is revoked). */
  @Override
  public void close() {
    stop.countDown();
    try {
      thread.join(TimeUnit.SECONDS.toMillis(5));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
