package dev.kvraft.server.net;

import dev.kvraft.server.db.Forwarder;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A follower's link to the leader's client port: kvraft's own pipelined protocol, one {@link AddressLink} (a bounded
 * queue, a writer and a reader virtual thread, one connection at a time) per leader address. {@link #send} only
 * queues a batch on its address's link (the database loop never waits on a socket); that link's writer connects when
 * needed and writes each batch with one flush; its reader hands every answer to the {@link Forwarder.Sink}. How a
 * link proves it is a member's, bounds its queue, and reports a broken connection's requests is
 * {@link AddressLink}'s.
 *
 * <p>Links do not outlive their use: a link's writer that has had nothing to write for {@link #IDLE_LINK} closes its
 * connection and drops the link from the map, unless its address is the one the loop sent to last (the leader's, as
 * far as this node knows: {@link #isLeaderAddress}) or a request on it still waits for an answer within its deadline.
 * So the link to a member that was removed, or to a leader's old address, goes once it is idle; a request it still
 * held past its deadline (the loop answered it TIMEOUT already) is reported as a broken connection reports it (sent
 * when any of its bytes was handed to the socket). A batch for a dropped link's address opens a new one.
 *
 * <p>Who owns what: this class owns the map of links by address (a concurrent map; {@link #send} adds, a link's
 * writer removes its own through {@link #forget}). {@link #lastAddress} is written by {@link #send}. {@link #closed}
 * is set by {@link #close} under a lock that {@link #send} holds while it checks it and makes a link, so a link is
 * either made before the close (which closes it) or not at all; a closed link refuses batches like a dropped one, and
 * its writer takes it out of the map when it ends. Each link's queue, threads and connection are its own
 * ({@link AddressLink}).
 */
public final class LeaderLink implements Forwarder, AutoCloseable {
  /**
   * What one link may hold queued and not yet written, in bytes of requests and in requests (server/DESIGN.md, "What
   * a client may hold"): a batch that would pass either is refused, but an empty queue takes any batch.
   */
  static final long MAX_QUEUED_BYTES = 64L << 20;
  static final int MAX_QUEUED_REQUESTS = 65_536;
  /** How long a link to an address that is not the leader's may stay with nothing to write before it is dropped. */
  static final java.time.Duration IDLE_LINK = java.time.Duration.ofSeconds(30);

  /** What every link works with: the sink, TLS or the member token, the queue's bounds, the idle bound. */
  private final AddressLink.Settings settings;
  private final Map<String, AddressLink> links = new ConcurrentHashMap<>();
  /** The address of the last {@link #send}: the leader's as far as the loop knows; its link is never dropped idle. */
  private volatile String lastAddress;
  /** Held by {@link #close} to set {@link #closed}, and by {@link #send} to check it and make a link. */
  private final Object lifecycle = new Object();
  /** Set once, under {@link #lifecycle}. */
  private volatile boolean closed;
  private volatile Runnable sendHook = () -> { };
  private volatile Runnable writeHook = () -> { };
  private volatile Runnable connectHook = () -> { };

  public LeaderLink(Sink sink, ClientTls tls, String nodeId, dev.kvraft.server.db.MemberToken token) {
    this(sink, tls, nodeId, token, MAX_QUEUED_BYTES, MAX_QUEUED_REQUESTS, IDLE_LINK);
  }

  /** With other bounds on each link's queue and on an idle link's life: for tests. */
  LeaderLink(Sink sink, ClientTls tls, String nodeId, dev.kvraft.server.db.MemberToken token, long maxQueuedBytes,
      int maxQueuedRequests, java.time.Duration idle) {
    this.settings = new AddressLink.Settings(sink, tls, nodeId, token, maxQueuedBytes, maxQueuedRequests,
        idle.toNanos());
  }

  @Override
  public boolean send(String address, List<Forward> batch) {
    while (true) {
      AddressLink link;
      synchronized (lifecycle) {
        // Under the lock close() takes to set closed: no link is made after close() has looked for links to close.
        if (!closed) {
          lastAddress = address;
          sendHook.run();
        }
        link = closed ? null : links.computeIfAbsent(address, a -> new AddressLink(settings, this, a));
      }
      if (link == null) {
        AddressLink.failed(settings.sink(), batch, false, "node is shutting down");
        return true;
      }
      switch (link.enqueue(batch)) {
        case QUEUED -> {
          return true;
        }
        case FULL -> {
          return false;
        }
        case DROPPED -> {
          // Its writer dropped it (idle), or close() closed it, after the map gave it out: the next turn finds a new
          // one, or that the node is shutting down.
        }
      }
    }
  }

  /** Runs in {@link #send} after it found the link open, before it takes or makes the link: for tests. */
  void onSend(Runnable hook) {
    this.sendHook = hook;
  }

  /**
   * Runs in a link's writer after it wrote a batch into its connection's buffer, before it looks for more to write
   * with it and flushes: for tests.
   */
  void onWritten(Runnable hook) {
    this.writeHook = hook;
  }

  /** A link's writer wrote a batch into its buffer (see {@link #onWritten}). */
  void written() {
    writeHook.run();
  }

  /** Runs in a link's writer once it connected, before it makes the connection the one a close breaks: for tests. */
  void onConnected(Runnable hook) {
    this.connectHook = hook;
  }

  /** A link's writer connected (see {@link #onConnected}). */
  void connected() {
    connectHook.run();
  }

  /** The addresses this node holds a link to now: for tests. */
  java.util.Set<String> addresses() {
    return java.util.Set.copyOf(links.keySet());
  }

  /** Whether {@link #close} was called: a link's writer then fails what it takes instead of writing it. */
  boolean isClosed() {
    return closed;
  }

  /** Whether {@code address} is the one the loop sent to last: its link is never dropped idle. */
  boolean isLeaderAddress(String address) {
    return address.equals(lastAddress);
  }

  /** A link's writer drops its own link (idle) or ends: takes it out of the map if it is still there. */
  void forget(String address, AddressLink link) {
    links.remove(address, link);
  }

  /**
   * Closes every link: each fails what it still holds, its connection is closed, and its threads end. A {@link #send}
   * that runs at the same time either made its link before (and it is closed here) or finds the link closed and
   * reports its batch not sent.
   */
  @Override
  public void close() {
    synchronized (lifecycle) {
      closed = true;
    }
    links.values().forEach(AddressLink::close);
  }
}
