package dev.kvraft.client;

import dev.kvraft.proto.Members;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import java.util.function.LongSupplier;

/**
 * How {@link Routes} learns the cluster's members: it asks the first connection it opens and waits for the answer
 * ({@link #askOnNewConnection}); when that ask got no answer, a later call on an open connection asks again in the
 * background ({@link #askAgainIfDue}), at most one ask at a time and one a second, until one is answered. An error
 * answer ends the asking as an answer does: it names no members, and asking again would get the same. Each address a
 * node names goes to {@code member}, and the one it names leader to {@code leader} too; both are called on the
 * thread that took the answer, so they must accept any thread.
 *
 * <p>Thread-safe. Who writes each field:
 * <ul>
 *   <li>{@link #discovered}: the thread opening a connection, under Routes' connect lock, sets it when it asks and
 *       clears it when its ask got no answer; the thread that completes a background ask with an answer sets it.
 *   <li>{@link #retryAt}: the thread opening a connection, when its ask got no answer; and the call that starts a
 *       background ask (only the one that won {@link #askingAgain}).
 *   <li>{@link #askingAgain}: set (compare-and-set) by the call that starts a background ask, and cleared by the
 *       thread that completes it: the connection's reader thread (an answer), the thread
 *       {@link java.util.concurrent.CompletableFuture#orTimeout} times out on (no answer within the connect timeout),
 *       the thread that ended the connection (its reader or writer, its watchdog, or one that closed it), or the
 *       calling thread itself when the ask was over before {@link #askAgainIfDue} returned (the connection had
 *       already ended, say).
 * </ul>
 * So the members are taken on the thread opening the connection for the first ask, and on whichever thread completes
 * a background ask for the others; a call that starts a background ask never waits for it, nor does close().
 */
final class MemberDiscovery {
  /** How long after a failed ask for the members a call on an open connection asks again. */
  static final long RETRY_NANOS = TimeUnit.SECONDS.toNanos(1);

  private final boolean on;
  private final Duration connectTimeout;
  /** The client's request ids: each ask takes one. */
  private final LongSupplier ids;
  /** Takes each address a node named as a member (any thread). */
  private final Consumer<String> member;
  /** Takes the address of the member a node named leader (any thread). */
  private final Consumer<String> leader;
  /** Whether the members were learned (or are being asked for); false again when asking failed. */
  private volatile boolean discovered;
  /** System.nanoTime() before which a failed ask for the members is not repeated on an open connection. */
  private volatile long retryAt;
  /** Whether an ask for the members made again on an open connection is waiting for its answer. */
  private final AtomicBoolean askingAgain = new AtomicBoolean();

  /** Asks nothing unless {@code on}; waits for each answer up to {@code connectTimeout}. */
  MemberDiscovery(boolean on, Duration connectTimeout, LongSupplier ids, Consumer<String> member,
      Consumer<String> leader) {
    this.on = on;
    this.connectTimeout = connectTimeout;
    this.ids = ids;
    this.member = member;
    this.leader = leader;
  }

  /**
   * A new connection's ask for the members, while none was answered or is being asked for: waits for the answer up
   * to the connect timeout, never past {@code deadline} (System.nanoTime()). Called under Routes' connect lock by the
   * thread opening {@code c}; Routes.close() closes that connection, which ends the wait at once.
   */
  void askOnNewConnection(Connection c, long deadline) {
    if (!on || discovered) {
      return;
    }
    discovered = true;
    long id = ids.getAsLong();
    try {
      learned(c.send(membersRequest(id)).get(Connection.millisWithin(connectTimeout, deadline), TimeUnit.MILLISECONDS));
    } catch (ExecutionException | TimeoutException e) {
      askFailed(c, id);
    } catch (InterruptedException e) {
      // A closed watch or a lost keep-alive interrupts its thread: the next call (or connection) asks again.
      askFailed(c, id);
      Thread.currentThread().interrupt();
    }
  }

  /**
   * Asks for the members again on an open connection when asking failed on it (no answer in time, or the thread was
   * interrupted): otherwise a client that keeps using that one connection would never learn them. At most one ask at
   * a time and one a second; the call that starts it does not wait for it (the answer is taken on the connection's
   * reader thread, and a connection that never answers costs one forgotten request a second).
   */
  void askAgainIfDue(Connection c) {
    if (!on || discovered || System.nanoTime() - retryAt < 0 || !askingAgain.compareAndSet(false, true)) {
      return;
    }
    retryAt = System.nanoTime() + RETRY_NANOS;
    long id = ids.getAsLong();
    c.send(membersRequest(id))
        .orTimeout(connectTimeout.toMillis(), TimeUnit.MILLISECONDS)
        .whenComplete((r, e) -> {
          try {
            if (e != null) {
              c.abandon(id);
            } else {
              learned(r); // an error answer names no members: asking again would get the same, as on a new connection
              discovered = true;
            }
          } finally {
            askingAgain.set(false);
          }
        });
  }

  private static Request membersRequest(long id) {
    return Request.newBuilder().setId(id).setMembers(Members.getDefaultInstance()).build();
  }

  /** A synchronous ask got no answer: forget it; a later call asks again in the background after the back-off. */
  private void askFailed(Connection c, long id) {
    c.abandon(id);
    retryAt = System.nanoTime() + RETRY_NANOS;
    discovered = false;
  }

  /** Hands on the members a node named, each address in one spelling ({@link Addresses#canonical}) where it can be. */
  private void learned(Response r) {
    for (var m : r.getMembers().getMembersList()) {
      var address = Addresses.canonicalOrAsIs(m.getClientAddress());
      if (!address.isEmpty()) {
        member.accept(address);
      }
      if (m.getLeader() && !address.isEmpty()) {
        leader.accept(address);
      }
    }
  }
}
