package dev.kvraft.server.db;

import com.google.protobuf.ByteString;
import dev.kvraft.proto.Error;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import dev.kvraft.storage.EntryKind;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * The database loop's queue and the ports that put events into it: {@link CommandSink} for the client port,
 * {@link StateMachineSink} for Raft, {@link Forwarder.Sink} for the leader link. Every method only queues and returns
 * (a client command may wait for a queue slot until its deadline); the loop thread takes the events.
 *
 * <p>Thread-safe: the queue and the semaphore are; client commands hold one of {@code queue.capacity} slots from
 * {@link #submit} until the loop takes them ({@link #commandTaken}). Other events are never bounded, so a Raft thread
 * never waits on client backpressure.
 */
final class Inbox implements CommandSink, StateMachineSink, Forwarder.Sink {
  private final LinkedBlockingQueue<Event> queue = new LinkedBlockingQueue<>();
  private final Semaphore clientSlots;
  private final int capacity;
  private final String proposer;
  private final Supplier<RequestObserver> observer;
  /** Why the loop thread died, once it has ({@link #died}); null while it runs. */
  private volatile Throwable death;

  Inbox(int capacity, String proposer, Supplier<RequestObserver> observer) {
    this.capacity = capacity;
    this.clientSlots = new Semaphore(capacity);
    this.proposer = proposer;
    this.observer = observer;
  }

  // ---- the loop's side ----

  Event poll(long nanos) throws InterruptedException {
    return queue.poll(nanos, TimeUnit.NANOSECONDS);
  }

  void drainTo(Collection<Event> into, int max) {
    queue.drainTo(into, max);
  }

  void add(Event e) {
    queue.add(e);
    if (death != null) {
      failQueued(); // the loop is gone: nothing will take it
    }
  }

  /**
   * The loop thread died of {@code cause}: {@code leftovers} (events it took and did not handle), everything queued
   * and everything queued from now on fail at once, instead of waiting for ever. Raft's applies, snapshot copies and
   * installs fail with the cause (a node starting from a snapshot stops with it); client commands are answered
   * {@code UNAVAILABLE}.
   */
  void died(Throwable cause, List<Event> leftovers) {
    death = cause;
    leftovers.forEach(this::fail);
    failQueued();
  }

  /** Whether the loop died ({@link #died}). */
  boolean dead() {
    return death != null;
  }

  private void failQueued() {
    for (var e = queue.poll(); e != null; e = queue.poll()) {
      fail(e);
    }
  }

  private void fail(Event e) {
    var gone = new IllegalStateException("the database loop stopped: " + death, death);
    switch (e) {
      case Event.Applied a -> a.done().completeExceptionally(gone);
      case Event.MetaApplied m -> m.done().completeExceptionally(gone);
      case Event.CopyState c -> c.done().completeExceptionally(gone);
      case Event.Install i -> i.done().completeExceptionally(gone);
      case Event.Command c -> {
        clientSlots.release();
        c.replier().reply(Replies.error(c.request().getId(), Error.Code.UNAVAILABLE, "node " + proposer + "'s"
            + " database loop stopped (" + death + "); it cannot serve until it restarts: use another node", ""));
      }
      default -> { }
    }
  }

  /** The loop took a client command: its slot is free again. */
  void commandTaken() {
    clientSlots.release();
  }

  /** Client commands waiting in the queue. */
  int queuedCommands() {
    return capacity - clientSlots.availablePermits();
  }

  // ---- CommandSink ----

  @Override
  public boolean submit(Request request, Replier replier, long deadline, RequestTrace trace)
      throws InterruptedException {
    long wait = deadline - System.nanoTime();
    if (!clientSlots.tryAcquire(Math.max(0, wait), TimeUnit.NANOSECONDS)) {
      return false;
    }
    add(new Event.Command(request, replier, deadline, trace));
    return true;
  }

  @Override
  public void closed(WatchSink sink) {
    add(new Event.ConnectionClosed(sink));
  }

  @Override
  public RequestObserver requestObserver() {
    return observer.get();
  }

  // ---- StateMachineSink ----

  @Override
  public String proposer() {
    return proposer;
  }

  @Override
  public CompletableFuture<Void> applied(LogPosition at, ByteString payload) {
    var done = new CompletableFuture<Void>();
    add(new Event.Applied(at, payload, done));
    return done;
  }

  @Override
  public CompletableFuture<Void> metaApplied(LogPosition at, EntryKind kind, String summary) {
    var done = new CompletableFuture<Void>();
    add(new Event.MetaApplied(at, kind, summary, done));
    return done;
  }

  @Override
  public CompletableFuture<Snapshotter.PointInTime> pointInTime() {
    var done = new CompletableFuture<Snapshotter.PointInTime>();
    add(new Event.CopyState(done));
    return done;
  }

  @Override
  public CompletableFuture<Void> install(LogPosition at, long revision, String configuration,
      KvState.Contents kvs, java.util.Map<String, String> system, String why) {
    var done = new CompletableFuture<Void>();
    add(new Event.Install(at, revision, configuration, kvs, system, why, done));
    return done;
  }

  @Override
  public void snapshotTaken(long index) {
    add(new Event.SnapshotTaken(index));
  }

  // ---- Forwarder.Sink ----

  @Override
  public void replied(Response response) {
    add(new Event.ForwardReplied(response));
  }

  @Override
  public void failed(List<Long> ids, boolean sent, String reason) {
    add(new Event.ForwardFailed(ids, sent, reason));
  }
}
