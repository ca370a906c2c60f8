package dev.kvraft.server.net;

import dev.kvraft.proto.AuthChange;
import dev.kvraft.proto.AuthenticateResult;
import dev.kvraft.proto.Error;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import dev.kvraft.server.auth.AuthState;
import dev.kvraft.server.auth.Passwords;
import java.net.InetAddress;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The connection side of auth, shared by every connection of the client port: checks passwords (on
 * {@link #CONCURRENT_HASHES} platform threads {@code kvraft-password-N}, in arrival order, so a flood of attempts
 * cannot take every core; the connection's virtual thread waits unmounted, so a hash of about 150 ms never holds one
 * of the carrier threads every other connection runs on), throttles failures per source address, hashes the passwords of user changes before they go anywhere,
 * and finds the user a client certificate names.
 *
 * <p>Throttling: after {@value #FREE_FAILURES} failures in a row from one address, that address is refused without
 * a check for 1 s, doubling with every further failure up to {@value #MAX_LOCKOUT_SECONDS} s; a success clears it.
 * The lockout is checked again once an attempt has a hashing slot, so many attempts sent at once from one address
 * (one per connection) cost at most {@value #FREE_FAILURES} + {@value #CONCURRENT_HASHES} - 1 hashes, not one each.
 * The table holds at most {@value #MAX_ADDRESSES} addresses (the oldest are forgotten). A connection is closed
 * after {@value #FAILURES_PER_CONNECTION} failures of its own.
 *
 * <p>Thread-safety: the failure table is guarded by its own lock; the rest is immutable or the hashing threads' own
 * executor (ended by {@link #close}).
 */
final class ConnectionAuth implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(ConnectionAuth.class);
  static final int FREE_FAILURES = 5;
  static final int FAILURES_PER_CONNECTION = 3;
  static final int MAX_LOCKOUT_SECONDS = 60;
  static final int MAX_ADDRESSES = 10_000;
  static final int CONCURRENT_HASHES = 2;

  private final Supplier<AuthState.View> view;
  private final boolean tls;
  private final LongSupplier clock;
  private final ExecutorService hashing = Executors.newFixedThreadPool(CONCURRENT_HASHES,
      Thread.ofPlatform().name("kvraft-password-", 1).daemon(true).factory());
  private final Map<InetAddress, Failures> failures = new LinkedHashMap<>(16, 0.75f, true) {
    @Override
    protected boolean removeEldestEntry(Map.Entry<InetAddress, Failures> eldest) {
      return size() > MAX_ADDRESSES;
    }
  };
  /** Whether the one-time WARN about a password over plaintext loopback was logged. */
  private volatile boolean warnedLoopback;

  private record Failures(int count, long lockedUntilNanos) {}

  /**
   * What an Authenticate came to: the answer, and the user when it succeeded, with the password hash it was checked
   * against ({@code secret}; null when it failed). The connection ends its session when that hash changes.
   */
  record Outcome(Response response, Optional<String> user, String secret) {
    static Outcome failed(Response response) {
      return new Outcome(response, Optional.empty(), null);
    }
  }

  ConnectionAuth(Supplier<AuthState.View> view, boolean tls, LongSupplier clock) {
    this.view = view;
    this.tls = tls;
    this.clock = clock;
  }

  AuthState.View view() {
    return view.get();
  }

  /** Checks an Authenticate from {@code from}. Blocks for the hash (about 150 ms) and for a free hashing slot. */
  Outcome authenticate(Request r, InetAddress from) throws InterruptedException {
    var id = r.getId();
    var a = r.getAuthenticate();
    var plaintext = refusePlaintext(from, "Authenticate");
    if (plaintext.isPresent()) {
      return Outcome.failed(error(id, Error.Code.PERMISSION_DENIED, plaintext.get()));
    }
    var locked = lockedOut(id, from);
    if (locked.isPresent()) {
      return locked.get();
    }
    var v = view.get();
    // Again on the hashing thread: attempts from one address that all arrived before its lockout (on many connections
    // at once) waited in line, and each would get a hash, keeping every other client's Authenticate waiting.
    var checked = hashed(() -> {
      var lockedNow = lockedOut(id, from);
      if (lockedNow.isPresent()) {
        return new Checked(lockedNow, false, 0);
      }
      // The same work whether or not the user exists: a missing one is checked against a dummy hash.
      boolean matches = Passwords.verify(a.getPassword(), v.secrets().get(a.getUser())) && v.hasUser(a.getUser());
      // A failure is counted before the thread takes the next attempt, whose check then sees it.
      return new Checked(Optional.empty(), matches, matches ? 0 : failed(from));
    });
    if (checked.locked().isPresent()) {
      return checked.locked().get();
    }
    boolean ok = checked.ok();
    int failuresInARow = checked.failuresInARow();
    if (!ok) {
      LOG.warn("client {}: authentication as '{}' failed ({} in a row from this address)", from.getHostAddress(),
          abbreviate(a.getUser()), failuresInARow);
      return Outcome.failed(error(id, Error.Code.UNAUTHENTICATED,
          "authentication failed: wrong user name or password"));
    }
    succeeded(from);
    return new Outcome(Response.newBuilder().setId(id).setAuthenticate(AuthenticateResult.newBuilder()
        .setUser(a.getUser()).addAllRoles(v.userRoles().get(a.getUser()))).build(), Optional.of(a.getUser()),
        v.secrets().get(a.getUser()));
  }

  /** The user a client certificate names (CN or a SAN), when auth knows one; else empty. */
  Optional<String> fromCertificate(Set<String> names) {
    if (names.isEmpty()) {
      return Optional.empty();
    }
    var v = view.get();
    return names.stream().filter(v::hasUser).sorted().findFirst();
  }

  /**
   * A client's user change with its password replaced by the hash, so that only the hash travels to the leader,
   * the log and the snapshots; or the error to answer (a password over plaintext from another host, or a hash sent
   * by a client).
   */
  Request hashPassword(Request r, InetAddress from) throws Refused, InterruptedException {
    var c = r.getAuthChange();
    if (!c.getPasswordHash().isEmpty()) {
      throw new Refused(Error.Code.INVALID_ARGUMENT, "password_hash is set by the server; send password");
    }
    if (c.getPassword().isEmpty() || (c.getAction() != AuthChange.Action.USER_ADD
        && c.getAction() != AuthChange.Action.USER_PASSWORD)) {
      return c.getPassword().isEmpty() ? r : r.toBuilder().setAuthChange(c.toBuilder().clearPassword()).build();
    }
    var plaintext = refusePlaintext(from, "a password");
    if (plaintext.isPresent()) {
      throw new Refused(Error.Code.PERMISSION_DENIED, plaintext.get());
    }
    // The loop checks the root role again as it applies the change; checked here too, before the slow hash, so that
    // anyone may not keep the hashing threads busy (and every login waiting behind them) with changes refused anyway.
    var v = view.get();
    if (v.enabled() && !v.hasUser(r.getUser())) {
      // As the loop answers (AuthLayer): no user, or one that no longer exists, is not authenticated.
      throw new Refused(Error.Code.UNAUTHENTICATED, "authenticate as a user with the root role to change users and"
          + " roles");
    }
    if (v.enabled() && !v.isRoot(r.getUser())) {
      throw new Refused(Error.Code.PERMISSION_DENIED, "user '" + r.getUser() + "' may not change users and roles"
          + " (only the root role may)");
    }
    var hash = hashed(() -> Passwords.hash(c.getPassword()));
    return r.toBuilder().setAuthChange(c.toBuilder().clearPassword().setPasswordHash(hash)).build();
  }

  /** What a password check on a hashing thread came to: a lockout found there, or whether it matched. */
  private record Checked(Optional<Outcome> locked, boolean ok, int failuresInARow) {}

  /** Runs {@code work} on a hashing thread, in arrival order, and waits for it (unmounted, on a virtual thread). */
  private <T> T hashed(Callable<T> work) throws InterruptedException {
    java.util.concurrent.Future<T> future;
    try {
      future = hashing.submit(work);
    } catch (java.util.concurrent.RejectedExecutionException e) {
      throw new InterruptedException("the client port is closed");
    }
    try {
      return future.get();
    } catch (InterruptedException e) {
      future.cancel(true);
      throw e;
    } catch (java.util.concurrent.CancellationException e) {
      throw new InterruptedException("the client port is closed"); // close() dropped it from the line
    } catch (ExecutionException e) {
      if (e.getCause() instanceof RuntimeException re) {
        throw re;
      }
      throw new IllegalStateException("password hashing failed: " + e.getCause(), e.getCause());
    }
  }

  /** Ends the hashing threads (the client port is closed). */
  @Override
  public void close() {
    // The attempts still in line never run: cancelled, so that their connections' readers stop waiting for them.
    for (var queued : hashing.shutdownNow()) {
      if (queued instanceof java.util.concurrent.Future<?> f) {
        f.cancel(false);
      }
    }
  }

  /** A request this connection must answer with an error instead of passing on. */
  static final class Refused extends Exception {
    final Error.Code code;

    Refused(Error.Code code, String message) {
      super(message, null, false, false);
      this.code = code;
    }
  }

  private Optional<String> refusePlaintext(InetAddress from, String what) {
    if (tls) {
      return Optional.empty();
    }
    if (from.isLoopbackAddress()) {
      if (!warnedLoopback) {
        warnedLoopback = true;
        LOG.warn("{} arrived over plaintext from loopback; allowed on this host only. Across hosts, turn TLS on"
            + " (tls.cert.file, tls.key.file, tls.ca.file)", what);
      }
      return Optional.empty();
    }
    return Optional.of("this node takes passwords only over TLS (or from this host): " + what + " from "
        + from.getHostAddress() + " over plaintext would expose it; turn TLS on or use a client certificate");
  }

  /** The refusal of an attempt from {@code from} while that address is locked out, or empty. */
  private Optional<Outcome> lockedOut(long id, InetAddress from) {
    long wait = lockedFor(from);
    if (wait <= 0) {
      return Optional.empty();
    }
    return Optional.of(Outcome.failed(error(id, Error.Code.UNAUTHENTICATED, "too many failed authentications from "
        + from.getHostAddress() + "; try again in " + Math.max(1, TimeUnit.NANOSECONDS.toSeconds(wait)) + " s")));
  }

  private long lockedFor(InetAddress from) {
    synchronized (failures) {
      var f = failures.get(from);
      return f == null ? 0 : Math.max(0, f.lockedUntilNanos() - clock.getAsLong());
    }
  }

  private int failed(InetAddress from) {
    synchronized (failures) {
      var f = failures.getOrDefault(from, new Failures(0, 0));
      int n = f.count() + 1;
      long lock = n < FREE_FAILURES ? 0
          : TimeUnit.SECONDS.toNanos(Math.min(MAX_LOCKOUT_SECONDS, 1L << Math.min(10, n - FREE_FAILURES)));
      failures.put(from, new Failures(n, lock == 0 ? 0 : clock.getAsLong() + lock));
      return n;
    }
  }

  private void succeeded(InetAddress from) {
    synchronized (failures) {
      failures.remove(from);
    }
  }

  private static Response error(long id, Error.Code code, String message) {
    return Response.newBuilder().setId(id).setError(Error.newBuilder().setCode(code).setMessage(message)).build();
  }

  private static String abbreviate(String s) {
    return s.length() <= 64 ? s : s.substring(0, 64) + "...";
  }
}
