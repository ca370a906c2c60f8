package dev.kvraft.client;

import dev.kvraft.proto.Consistency;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.LongSupplier;

/**
 * Where a {@link KvClient}'s requests go, and its connections, one per node, opened (and authenticated) on first
 * use. Everything goes to the <em>primary</em> node, which moves to the next address (or to the leader a node named)
 * when it fails; writes and lease keep-alives go to the <em>leader</em> when it is known and reachable, and so do
 * linearizable gets and scans unless the client was built with {@code readsToLeader(false)}; STALE reads go
 * round-robin over every known node. A leader that cannot be reached is not tried again for
 * {@link #LEADER_RETRY_NANOS}, and what would go to it meanwhile goes through the primary.
 *
 * <p>Opening a connection (connect, TLS handshake, authenticate, learn the members) and waiting for another thread
 * that is opening one are bounded by the deadline of the call that needs it, as well as by the connect timeout (the
 * authentication by {@link #AUTHENTICATE_MILLIS}): a call never waits on a connection longer than its timeout.
 *
 * <p>Learning the members (a new connection's first ask, and asking again when that failed) is {@link #discovery}'s:
 * this class opens the connections it asks on and keeps what it learns, {@link #addresses} and {@link #leader}.
 *
 * <p>Thread-safe, shared by every thread of the client: connections are opened, and the primary and leader moved,
 * under {@link #connectLock}; the fields read on every request are volatile.
 */
final class Routes implements AutoCloseable {
  /** After failing to connect to the leader, how long its requests go through the connected node instead. */
  static final long LEADER_RETRY_NANOS = TimeUnit.SECONDS.toNanos(5);
  /**
   * How long authenticating may take at most (the server hashes the password slowly on purpose), or the connect
   * timeout when longer; never past the deadline of the call that opens the connection.
   */
  static final long AUTHENTICATE_MILLIS = 10_000;

  /** The addresses given, then the members learned from the cluster (added by {@link #discovery} on any thread). */
  private final CopyOnWriteArrayList<String> addresses;
  private final Duration connectTimeout;
  /** TLS towards every node, or null for plaintext. */
  private final javax.net.ssl.SSLContext tls;
  /** The user every connection authenticates as, or null; and its password. */
  private final String user;
  private final String password;
  private final boolean discover;
  private final boolean writesToLeader;
  /** Whether linearizable gets and scans go to the leader too (a follower would first ask the leader for them). */
  private final boolean readsToLeader;
  /**
   * The client's request ids (a connection's first requests, authenticate and members, take one each; members'
   * through {@link #discovery}).
   */
  private final LongSupplier ids;
  /** How each connection checks its node is there while watches are open on it. */
  private final Connection.Liveness liveness;
  private final AtomicLong staleTurn = new AtomicLong();
  private final ReentrantLock connectLock = new ReentrantLock();
  private final ConcurrentHashMap<String, Connection> pool = new ConcurrentHashMap<>();
  /** The node this client talks to for everything but STALE reads and the leader's requests; moves on failure. */
  private volatile String primary;
  /**
   * The leader's client address when known (and writes or linearizable reads go to it), else null; {@link #discovery}
   * sets it too.
   */
  private volatile String leader;
  /** System.nanoTime() before which the leader is not connected to again (it just failed to connect). */
  private volatile long leaderRetryAt;
  /** Asks for the members, on a new connection and again when that failed; takes what a node names. */
  private final MemberDiscovery discovery;
  private volatile boolean closed;
  /**
   * The connection being opened under {@link #connectLock} (authenticating, learning the members), else null: close()
   * closes it so as not to wait for its login, which may take seconds.
   */
  private volatile Connection opening;

  Routes(List<String> addresses, Duration connectTimeout, javax.net.ssl.SSLContext tls, String user, String password,
      boolean discover, boolean writesToLeader, boolean readsToLeader, LongSupplier ids, Duration watchKeepAlive) {
    this.addresses = new CopyOnWriteArrayList<>(addresses.stream().map(Addresses::canonical).distinct().toList());
    this.connectTimeout = connectTimeout;
    this.tls = tls;
    this.user = user;
    this.password = password;
    this.discover = discover;
    this.writesToLeader = writesToLeader;
    this.readsToLeader = readsToLeader;
    this.ids = ids;
    this.liveness = new Connection.Liveness(watchKeepAlive, ids);
    this.primary = this.addresses.get(0);
    this.discovery = new MemberDiscovery(discover, connectTimeout, ids, this.addresses::addIfAbsent, this::memberLeads);
  }

  /** The address of the primary node when connected to it. */
  Optional<String> currentAddress() {
    return Optional.ofNullable(pooled(primary)).map(Connection::address);
  }

  Optional<String> leaderAddress() {
    return Optional.ofNullable(leader);
  }

  List<String> addresses() {
    return List.copyOf(addresses);
  }

  boolean isClosed() {
    return closed;
  }

  /**
   * The connection for one attempt of a request: STALE reads in turn (first attempts only), leader work, the rest.
   * Opening one ends by {@code deadline} (System.nanoTime()) at the latest.
   */
  Connection connectionFor(Request.Builder r, boolean firstAttempt, long deadline) {
    return isStaleRead(r) && firstAttempt ? staleConnection(deadline)
        : toLeader(r) ? leaderConnection(deadline) : primaryConnection(deadline);
  }

  static boolean isStaleRead(Request.Builder r) {
    return readConsistency(r) == Consistency.STALE;
  }

  static boolean isLinearizableRead(Request.Builder r) {
    return readConsistency(r) == Consistency.LINEARIZABLE;
  }

  /** A get's or a scan's consistency; null for any other command. */
  private static Consistency readConsistency(Request.Builder r) {
    return r.hasGet() ? r.getGet().getConsistency() : r.hasScan() ? r.getScan().getConsistency() : null;
  }

  /** The connection to one node (opened and authenticated when needed), for a watch's stream. */
  Connection connectionTo(String address) throws IOException {
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(
        connectTimeout.toMillis() + Math.max(AUTHENTICATE_MILLIS, connectTimeout.toMillis()));
    lock(deadline);
    try {
      return open(address, deadline);
    } finally {
      connectLock.unlock();
    }
  }

  /**
   * Takes {@link #connectLock} by {@code deadline}: another thread may be opening a connection (an authentication
   * takes up to seconds), and a call does not wait for it past its own deadline.
   */
  private void lock(long deadline) {
    try {
      if (connectLock.tryLock(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
        return;
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new UnavailableException("interrupted while waiting for another thread of this client to connect", e);
    }
    throw new UnavailableException("another thread of this client was still connecting when this call's time ran"
        + " out; raise the timeout if connecting (or authenticating) takes this long", "");
  }

  /**
   * A request sent to the leader lost its connection: the primary takes the leader's requests until an answer names
   * the leader again.
   */
  void leaderBroke(Connection c) {
    if (c.address().equals(leader)) {
      leader = null;
    }
  }

  /**
   * Writes and lease keep-alives, the leader's work, and linearizable gets and scans, which the leader confirms for
   * many at once while a follower must first ask it: sent to the leader when the client knows it.
   */
  boolean toLeader(Request.Builder r) {
    return writesToLeader && dev.kvraft.proto.CommandKind.of(r).leaderWork() || readsToLeader && isLinearizableRead(r);
  }

  /** Whether any request goes to the leader, so that the client keeps track of which node leads. */
  private boolean followsLeader() {
    return writesToLeader || readsToLeader;
  }

  /**
   * A follower named the leader on its answer to a forwarded write or a linearizable read it had the leader confirm:
   * send the next ones there.
   */
  void learnLeader(Response r) {
    var hint = r.getHeader().getLeaderAddress();
    if (followsLeader() && !hint.isEmpty() && !(hint = Addresses.canonicalOrAsIs(hint)).equals(leader)) {
      leader = hint;
    }
  }

  /** The leader's connection when the leader is known and reachable, else the primary's. */
  private Connection leaderConnection(long deadline) {
    forgetIfSilent(leader);
    var address = leader;
    if (address == null) {
      return primaryConnection(deadline);
    }
    var c = pooled(address);
    if (c != null) {
      discovery.askAgainIfDue(c);
      return c;
    }
    if (System.nanoTime() - leaderRetryAt < 0) {
      return primaryConnection(deadline);
    }
    lock(deadline);
    try {
      return open(address, deadline);
    } catch (IOException | IllegalArgumentException | KvException e) {
      leaderRetryAt = System.nanoTime() + LEADER_RETRY_NANOS;
      leader = null;
    } finally {
      connectLock.unlock();
    }
    return primaryConnection(deadline);
  }

  /** The primary node's connection; when it is down, the first node in the list after it that answers. */
  private Connection primaryConnection(long deadline) {
    forgetIfSilent(primary);
    var c = pooled(primary);
    if (c != null) {
      discovery.askAgainIfDue(c);
      return c;
    }
    lock(deadline);
    try {
      var errors = new ArrayList<String>();
      var list = addresses();
      int start = Math.max(0, list.indexOf(primary));
      for (int i = 0; i < list.size(); i++) {
        if (i > 0 && deadline - System.nanoTime() <= 0) {
          errors.add("no time left for the others within the call's timeout");
          break;
        }
        var address = list.get((start + i) % list.size());
        try {
          var conn = open(address, deadline);
          primary = address;
          return conn;
        } catch (IOException | IllegalArgumentException e) {
          errors.add(address + " (" + e.getMessage() + ")");
        }
      }
      throw new UnavailableException("cannot connect to any node: " + String.join(", ", errors), "");
    } finally {
      connectLock.unlock();
    }
  }

  /** STALE reads go round-robin over every known node; each answers from its own copy. */
  private Connection staleConnection(long deadline) {
    var list = addresses();
    var address = list.get((int) Math.floorMod(staleTurn.getAndIncrement(), (long) list.size()));
    var c = pooled(address);
    if (c != null) {
      discovery.askAgainIfDue(c);
      return c;
    }
    lock(deadline);
    try {
      return open(address, deadline);
    } catch (IOException | IllegalArgumentException e) {
      return primaryConnection(deadline);
    } finally {
      connectLock.unlock();
    }
  }

  /**
   * A connection whose watchdog found its node silent (no answer even to a members request) is handled as a broken
   * one ({@link #failed}): the primary moves on and the leader is forgotten, so that the next call does not connect
   * to that node again first and wait for its answer until its deadline.
   */
  private void forgetIfSilent(String address) {
    var c = address == null ? null : pool.get(address);
    if (c != null && c.wentSilent()) {
      failed(c);
    }
  }

  /** The pool's connection to {@code address} if it is open, else null. */
  private Connection pooled(String address) {
    var c = pool.get(address);
    return c != null && c.isOpen() ? c : null;
  }

  /**
   * Opens (or reuses) the connection to one address; learns the members the first time. Holds connectLock. A closed
   * client is refused here, the one place every connection is opened.
   */
  private Connection open(String address, long deadline) throws IOException {
    if (closed) {
      throw new UnavailableException("the client is closed", ""); // no connection outlives close()
    }
    var c = pooled(address);
    if (c != null) {
      return c;
    }
    c = Connection.open(address, connectTimeout, deadline, tls, liveness);
    opening = c;
    try {
      if (closed) {
        c.close(); // close() came while it connected, and may have missed it
        throw new UnavailableException("the client is closed", "");
      }
      if (user != null) {
        authenticate(c, deadline);
      }
      pool.put(address, c);
      discovery.askOnNewConnection(c, deadline);
      return c;
    } finally {
      opening = null;
    }
  }

  /**
   * A new connection's first request: who it is. The server hashes slowly on purpose: allow it seconds, but not past
   * the caller's deadline.
   */
  private void authenticate(Connection c, long deadline) throws IOException {
    Response r;
    long wait = Connection.millisWithin(Duration.ofMillis(Math.max(AUTHENTICATE_MILLIS, connectTimeout.toMillis())),
        deadline);
    try {
      r = c.send(Request.newBuilder().setId(ids.getAsLong()).setAuthenticate(
          dev.kvraft.proto.Authenticate.newBuilder().setUser(user).setPassword(password)).build())
          .get(wait, TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      c.close();
      throw new IOException("authenticating to " + c.address() + " failed: no answer within " + wait + " ms", e);
    } catch (ExecutionException e) {
      c.close();
      throw new IOException("authenticating to " + c.address() + " failed: " + e.getMessage(), e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      c.close();
      throw new IOException("interrupted while authenticating to " + c.address(), e);
    }
    if (r.hasError()) {
      c.close();
      throw KvException.of(r.getError());
    }
  }

  /** A node named {@code address} leader in its members (any thread: the leader is a volatile). */
  private void memberLeads(String address) {
    if (followsLeader()) {
      leader = address;
    }
  }

  /**
   * After an UNAVAILABLE answer: move to the leader the server named, else to the next node. A client that does not
   * discover members talks to the addresses it was given only: it follows the named leader only when it is one of
   * them (it used to add any address a node named and send everything there).
   */
  void moveFrom(String address, String named) {
    var leaderAddress = named.isEmpty() ? named : Addresses.canonicalOrAsIs(named);
    connectLock.lock();
    try {
      if (address.equals(leader)) {
        leader = leaderAddress.isEmpty() || leaderAddress.equals(address) ? null : leaderAddress;
      }
      if (!address.equals(primary)) {
        return;
      }
      if (!leaderAddress.isEmpty() && !leaderAddress.equals(address)
          && (discover || addresses.contains(leaderAddress))) {
        if (!addresses.contains(leaderAddress)) {
          addresses.add(leaderAddress);
        }
        primary = leaderAddress;
      } else {
        var list = addresses();
        primary = list.get((list.indexOf(address) + 1) % list.size());
      }
    } finally {
      connectLock.unlock();
    }
  }

  /** A connection broke: forget it, and move the primary on if it was the primary. */
  void failed(Connection c) {
    pool.remove(c.address(), c);
    c.close();
    connectLock.lock();
    try {
      if (c.address().equals(leader)) {
        leader = null;
      }
      if (c.address().equals(primary)) {
        var list = addresses();
        primary = list.get((list.indexOf(primary) + 1) % list.size());
      }
    } finally {
      connectLock.unlock();
    }
  }

  /**
   * Closes every connection; under the lock, so that no connection being opened is left in the pool after it. The
   * one being opened is closed first, so that close() does not wait for its login (only for a TCP connect or TLS
   * handshake under way, at most the connect timeout).
   */
  @Override
  public void close() {
    closed = true;
    var o = opening;
    if (o != null) {
      o.close(); // its login or members request fails now, so the thread opening it lets the lock go
    }
    connectLock.lock();
    try {
      closed = true;
      pool.values().forEach(Connection::close);
      pool.clear();
    } finally {
      connectLock.unlock();
    }
  }
}
