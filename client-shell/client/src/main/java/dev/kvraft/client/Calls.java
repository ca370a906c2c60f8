package dev.kvraft.client;

import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A {@link KvClient}'s call engine: sends one request and waits for its answer within the client's timeout, and
 * decides what happens when it does not come. It resends only what is safe: a request answered {@code UNAVAILABLE}
 * (not applied), after {@link Routes#moveFrom} moved to the leader the server named or to the next node; and a read
 * whose connection was lost. A write whose connection was lost, or whose answer did not come in time, is a
 * {@link KvTimeoutException}: its outcome is unknown, and it is never sent again. Before each retry it backs off
 * (50, 100, 200, then 400 ms, never past the deadline); each attempt tells the server how long the client still
 * waits ({@code timeout_ms}), and waits {@link #ANSWER_GRACE_NANOS} more for the server's own deadline answer; a
 * connection on which nothing at all arrived meanwhile is dropped as broken (the next call goes to the next node). Once
 * the client is closed no attempt starts: a call whose answer close() cut off ends then, a read with
 * {@link UnavailableException}, a write with {@link KvTimeoutException}.
 *
 * <p>Which connection each attempt goes to, and the connections themselves, are {@link Routes}'s. The request ids
 * are this class's: {@link #ids} is handed to {@code Routes} too (a connection's first requests, authenticate and
 * members, take one each), and {@link Watcher}s take theirs through {@link KvClient#nextId}.
 *
 * <p>Thread-safe: any caller's thread runs {@link #call} and {@link #callAsync}; its state is final, and the one
 * thing that changes, {@link #ids}, is atomic. What a {@code callAsync} future does on completion (learn or forget
 * the leader) runs on the connection's reader thread, or on the caller's when the answer came first.
 */
final class Calls {
  /** A retry is not worth starting with less time than this left. */
  private static final long MIN_ATTEMPT_NANOS = TimeUnit.MILLISECONDS.toNanos(50);
  /** How long past the deadline we wait for the server's own deadline answer to arrive. */
  private static final long ANSWER_GRACE_NANOS = TimeUnit.SECONDS.toNanos(1);
  /** How long one call may take in all, retries included. */
  private final Duration timeout;
  /** The client's request ids, shared with {@link Routes} (which was given {@code ids::incrementAndGet}). */
  private final AtomicLong ids;
  private final Routes routes;

  Calls(Duration timeout, AtomicLong ids, Routes routes) {
    this.timeout = timeout;
    this.ids = ids;
    this.routes = routes;
  }

  Duration timeout() {
    return timeout;
  }

  long nextId() {
    return ids.incrementAndGet();
  }

  /** {@link KvClient#call}: sends one request and waits, retrying what is safe until the timeout. */
  Response call(Request.Builder request) {
    return call(request, timeout, ANSWER_GRACE_NANOS);
  }

  /**
   * {@link #call(Request.Builder)} within {@code timeout} instead of the client's, waiting for a late answer at most
   * half as long again (a lease renewal's short attempt).
   */
  Response call(Request.Builder request, Duration timeout) {
    return call(request, timeout, Math.min(ANSWER_GRACE_NANOS, timeout.toNanos() / 2));
  }

  private Response call(Request.Builder request, Duration timeout, long graceNanos) {
    long deadline = System.nanoTime() + timeout.toNanos();
    boolean read = isRead(request);
    KvException last = null;
    for (int attempt = 0; ; attempt++) {
      if (routes.isClosed()) {
        // close() ended the call (a read lost its answer then) or came before it: nothing more will be sent.
        throw new UnavailableException("the client is closed: no request is sent after close()", "");
      }
      long left = deadline - System.nanoTime();
      if (left <= MIN_ATTEMPT_NANOS) {
        throw last != null ? last
            : new KvTimeoutException("no answer within " + timeout.toMillis() + " ms" + outcome(read));
      }
      if (attempt > 0) {
        sleepQuietly(Math.min(TimeUnit.NANOSECONDS.toMillis(left), Math.min(500, 25L << Math.min(attempt, 4))));
      }
      Connection c;
      try {
        c = routes.connectionFor(request, attempt == 0, deadline);
      } catch (UnavailableException e) {
        if (Thread.currentThread().isInterrupted()) {
          throw e; // the backoff sleep returns at once now: retrying would only spin until the deadline
        }
        if (last != null && deadline - System.nanoTime() <= MIN_ATTEMPT_NANOS) {
          // This attempt was cut short by the deadline ("read timed out"): the earlier failure says more.
          last.addSuppressed(e);
        } else {
          last = e;
        }
        continue;
      }
      // The server answers within the time we say we wait; we wait a grace period more for that answer.
      long budget = deadline - System.nanoTime();
      var r = request.setId(ids.incrementAndGet())
          .setTimeoutMs(timeoutMs(budget)).build();
      long sent = System.nanoTime();
      var f = c.send(r);
      Response response;
      try {
        response = f.get(Math.max(1, budget) + graceNanos, TimeUnit.NANOSECONDS);
      } catch (TimeoutException e) {
        c.abandon(r.getId());
        if (c.silentSince(sent)) {
          // Not even another answer came: the node is gone or cut off without a reset (powered off, partitioned),
          // and its connection would swallow every later call until TCP gave up, minutes later. Drop it and move
          // on, as when it breaks: what else waits on it fails now as a lost connection.
          routes.failed(c);
        }
        throw new KvTimeoutException("no answer from " + c.address() + " within " + timeout.toMillis() + " ms"
            + outcome(read));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        c.abandon(r.getId());
        throw new KvTimeoutException("interrupted while waiting for " + c.address() + outcome(read), e);
      } catch (ExecutionException e) {
        routes.failed(c);
        var lost = connectionLost(request, e.getCause());
        if (read) {
          last = lost;
          continue;
        }
        throw lost;
      }
      routes.learnLeader(response);
      if (!response.hasError()) {
        return response;
      }
      var error = KvException.of(response.getError());
      if (error instanceof UnavailableException u) {
        // Not applied: safe to retry, at the leader the server named or at the next node.
        last = u;
        routes.moveFrom(c.address(), u.leaderAddress());
        continue;
      }
      throw error;
    }
  }

  /** {@link KvClient#connectionLost}: a read is {@link UnavailableException}, a write {@link KvTimeoutException}. */
  static KvException connectionLost(Request.Builder request, Throwable cause) {
    return isRead(request) ? new UnavailableException(cause.getMessage(), cause)
        : new KvTimeoutException(cause.getMessage() + "; the write may or may not have been applied", cause);
  }

  /** {@link KvClient#callAsync}: sends one request without waiting or retrying. */
  CompletableFuture<Response> callAsync(Request.Builder request) {
    boolean toLeader = routes.toLeader(request);
    Connection c;
    try {
      c = routes.connectionFor(request, true, System.nanoTime() + timeout.toNanos());
    } catch (UnavailableException e) {
      return CompletableFuture.failedFuture(e);
    }
    var answer = c.send(request.setId(ids.incrementAndGet()).build());
    if (!toLeader) {
      return answer;
    }
    return answer.whenComplete((response, failure) -> {
      if (response != null) {
        routes.learnLeader(response);
      } else {
        routes.leaderBroke(c);
      }
    });
  }

  /** Safe to send again after a lost answer (reads and status), unlike writes and snapshots. */
  private static boolean isRead(Request.Builder r) {
    return dev.kvraft.proto.CommandKind.of(r.getCommandCase()).safeToRetry()
        && r.getCommandCase() != Request.CommandCase.READ_INDEX;
  }

  private static String outcome(boolean read) {
    return read ? "" : "; the write may or may not have been applied";
  }

  private static void sleepQuietly(long millis) {
    try {
      Thread.sleep(Math.max(0, millis));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /**
   * The {@code timeout_ms} for a budget of {@code nanos}: at least 1, and at most {@link Integer#MAX_VALUE} (24.8
   * days; a node caps it at its request.timeout.ms anyway). A plain int cast wrapped a budget of 2^32 ms or more
   * around to a few milliseconds, and one from 2^31 ms to a negative number.
   */
  static int timeoutMs(long nanos) {
    return (int) Math.min(Integer.MAX_VALUE, Math.max(1, TimeUnit.NANOSECONDS.toMillis(nanos)));
  }
}
