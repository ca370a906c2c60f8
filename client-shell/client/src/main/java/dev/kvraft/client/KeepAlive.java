package dev.kvraft.client;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Keeps one lease alive from {@link KvClient#keepAlive}: a virtual thread ({@code kvraft-keepalive-ID}) renews it
 * every third of its TTL (retrying sooner after a failed attempt) until {@link #close}, until the cluster says the
 * lease is gone, until its client is closed, or until no renewal succeeded for a whole TTL (in each of the last three
 * {@link #isAlive()} turns false too: nothing renews the lease). A renewal counts from the moment it was sent: the
 * lease lives at least its TTL from then, and no longer is known. A client cut off from the cluster's majority (its
 * renewals answered {@code UNAVAILABLE}, or not at all) so learns it may have lost the lease when the cluster may
 * have expired it, not only once it can reach the cluster again. It does not revoke the lease on close: it then
 * expires after its TTL, unless revoked.
 */
public final class KeepAlive implements AutoCloseable {
  private final KvClient client;
  private final long id;
  private final CountDownLatch stop = new CountDownLatch(1);
  private final Thread thread;
  private volatile boolean alive = true;
  private volatile String lostBecause = "";
  /**
   * System.nanoTime() until which the lease surely lives (the last successful renewal's sending time plus its TTL),
   * or {@link #UNKNOWN} before the first renewal answered when the caller did not know the grant's.
   */
  private volatile long validUntil;
  private static final long UNKNOWN = Long.MIN_VALUE;

  private KeepAlive(KvClient client, long id, long validUntil) {
    this.client = client;
    this.id = id;
    this.validUntil = validUntil;
    this.thread = Thread.ofVirtual().name("kvraft-keepalive-" + Long.toHexString(id)).unstarted(this::run);
  }

  /** Keeps lease {@code id} alive; nothing is known of its expiry until the first renewal answers. */
  static KeepAlive start(KvClient client, long id) {
    return start(client, id, UNKNOWN);
  }

  /** Keeps lease {@code id} alive, which surely lives until System.nanoTime() {@code validUntil} (its grant's). */
  static KeepAlive start(KvClient client, long id, long validUntil) {
    var k = new KeepAlive(client, id, validUntil);
    k.thread.start();
    return k;
  }

  public long leaseId() {
    return id;
  }

  /**
   * False once the lease is gone (expired or revoked), no longer renewed because the client was closed, or not renewed
   * for a whole TTL (the cluster may have expired it): whatever it guarded is no longer held. Once false, it stays
   * false.
   */
  public boolean isAlive() {
    if (alive && expired()) {
      lose("lease " + Long.toHexString(id) + " was not renewed within its TTL: the cluster may have expired it");
    }
    return alive;
  }

  /** Why {@link #isAlive()} turned false, or empty. */
  public String lostBecause() {
    isAlive();
    return lostBecause;
  }

  private boolean expired() {
    long until = validUntil;
    return until != UNKNOWN && System.nanoTime() - until >= 0;
  }

  private synchronized void lose(String why) {
    if (alive) {
      lostBecause = why;
      alive = false;
      stop.countDown(); // no renewal after that: the lease may be someone else's key's by now
      if (Thread.currentThread() != thread) {
        thread.interrupt(); // a renewal still retrying (until the client's timeout) is of no use any more
      }
    }
  }

  private void run() {
    long waitMillis = 0;
    try {
      while (!stop.await(untilDeadline(waitMillis), TimeUnit.MILLISECONDS)) {
        if (!isAlive()) {
          return; // not renewed for a whole TTL
        }
        try {
          long sent = System.nanoTime();
          long ttl = client.leaseKeepAliveOnce(id, attemptTimeout());
          if (!isAlive()) {
            return; // the answer came after the deadline: the holder may have been told the lease is gone already
          }
          validUntil = sent + TimeUnit.SECONDS.toNanos(ttl);
          waitMillis = Math.max(100, TimeUnit.SECONDS.toMillis(ttl) / 3);
        } catch (LeaseNotFoundException e) {
          lose(e.getMessage());
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
        lose("the client was closed: lease " + Long.toHexString(id) + " is no longer renewed");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      client.ended(this);
    }
  }

  /**
   * How long one renewal may take: a third of the time the lease surely has left (at least
   * {@value #MIN_ATTEMPT_MILLIS} ms), at most the client's timeout; with the wait for a late answer (half as much
   * again), half of that time. A node that hangs without closing the connection (stopped, paused, cut off) so leaves
   * time for another attempt, on another node once the client has dropped the silent one, before the lease may
   * expire; with the client's whole timeout (10 s by default, against TTLs from 3 s) the lease was lost although the
   * cluster had a new leader well within its TTL (found by review).
   */
  private java.time.Duration attemptTimeout() {
    var full = client.timeout();
    long until = validUntil;
    if (until == UNKNOWN) {
      return full;
    }
    long third = (until - System.nanoTime()) / 3;
    return java.time.Duration.ofNanos(Math.min(full.toNanos(),
        Math.max(TimeUnit.MILLISECONDS.toNanos(MIN_ATTEMPT_MILLIS), third)));
  }

  static final long MIN_ATTEMPT_MILLIS = 200;

  /** How long to wait for the next renewal: {@code millis}, but not past the moment the lease may expire. */
  private long untilDeadline(long millis) {
    long until = validUntil;
    return until == UNKNOWN ? millis
        : Math.max(0, Math.min(millis, TimeUnit.NANOSECONDS.toMillis(until - System.nanoTime()) + 1));
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
