package dev.kvraft.server.db;

import dev.kvraft.proto.CommandKind;
import dev.kvraft.proto.Consistency;
import dev.kvraft.proto.Error;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import dev.kvraft.server.config.ServerConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The database loop: one platform thread, {@code kvraft-db}, that alone owns the key-value state ({@link KvState})
 * and every pending request ({@link PendingRequests}). This class is the loop itself — take, drain, dispatch, tick —
 * and its edges; the work is done by parts that run on its thread:
 * <ul>
 *   <li>{@link WritePath}: a write on the leader is proposed (group commit), on a follower forwarded;
 *   <li>{@link ReadPath}: linearizable reads behind one read barrier (leader) or one read index (follower);
 *   <li>{@link Applier}: committed entries into the state, answering this node's writes; snapshots in and out;
 *   <li>{@link Retries} and {@link PendingRequests}: what waits, until when, and what is routed again;
 *   <li>{@link CommitNotice}: on the leader, the followers told of its last commits when writes pause;
 *   <li>{@link Replies}, {@link StatusReport}: answers;
 *   <li>{@link Inbox}: the queue, and the ports other threads put events through ({@link #commands()},
 *       {@link #stateMachine()}, {@link #forwardSink()}).
 * </ul>
 * Which command goes where is decided once, in {@link #handle}.
 *
 * <p>Everything reaches the loop as an {@link Event} on one queue, in the order it must be handled: client commands
 * from the connection threads; applied entries, barrier completions and failures from Raft's threads; answers from
 * the leader link. Client commands are bounded by a semaphore of {@code queue.capacity} slots (a connection that
 * cannot get one before its deadline answers OVERLOADED); the other events are never bounded, so a Raft thread never
 * waits on client backpressure. The loop never blocks on a Raft future or a socket: completions come back as events.
 */
public final class DatabaseLoop implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(DatabaseLoop.class);
  /** An idle loop runs its timers (expiry, leases, progress, proposals of its own) at least this often. */
  private static final long TICK_NANOS = TimeUnit.MILLISECONDS.toNanos(50);

  /** A batch of writes is cut into several log entries past this many bytes of requests. */
  public static final int MAX_ENTRY_BYTES = 4 << 20;

  private final ServerConfig config;
  private final String proposer;
  private final Inbox inbox;
  private final Thread thread;
  private final AtomicBoolean started = new AtomicBoolean();
  private volatile boolean accepting = true;
  // Set by bind() and observe() before start(), read by the loop thread.
  private volatile Consensus consensus;
  private volatile Forwarder forwarder;
  private volatile Snapshotter snapshotter;
  private volatile BackupWriter backupWriter;
  private volatile java.util.function.Supplier<dev.kvraft.proto.DataSize> dataSizes =
      dev.kvraft.proto.DataSize::getDefaultInstance;
  private volatile LoopObserver loopObserver = LoopObserver.NONE;
  /** Run (on a thread of its own) when the leader tells this node it was removed from the cluster. */
  private volatile Runnable removedHook = () -> { };

  // ---- owned by the loop thread ----
  private final KvState state;
  private final MemberToken memberToken = new MemberToken();
  private final dev.kvraft.server.auth.AuthState auth = new dev.kvraft.server.auth.AuthState();
  private final AuthLayer authLayer;
  private final Alarms alarms = new Alarms();
  private final Compaction compaction;
  private final Watches watches;
  private final Leases leases;
  private final PendingRequests pending = new PendingRequests();
  private final Replies replies;
  private final Retries retries;
  private final Applier applier;
  private final WritePath writes;
  private final ReadPath reads;
  private final CallIds ids;
  private final CommitNotice commitNotice;
  private long takenCommands;
  /** {@link Replies#answered()} as the command being handled was taken: whether it answered since. */
  private long answeredBeforeCommand;
  private volatile int inFlightView;

  public DatabaseLoop(ServerConfig config, String proposer) {
    this(config, proposer, System::nanoTime);
  }

  /** With {@code leaseClock} for the leases' deadlines and checkpoint timer instead of {@link System#nanoTime()}. */
  DatabaseLoop(ServerConfig config, String proposer, java.util.function.LongSupplier leaseClock) {
    this.config = config;
    this.proposer = proposer;
    this.consensus = Consensus.notStarted(config.nodeId());
    this.thread = Thread.ofPlatform().name("kvraft-db").unstarted(this::run);
    this.ids = new CallIds();
    this.state = new KvState(config.limits().maxAnswerBytes());
    this.replies = new Replies(config.nodeId(), state);
    this.inbox = new Inbox(config.queueCapacity(), proposer, replies::observer);
    this.retries = new Retries(pending, replies, () -> accepting);
    this.commitNotice = new CommitNotice(ids, System::nanoTime, () -> inbox.add(new Event.Task(() -> { })));
    this.compaction = new Compaction(state, () -> applierObserver(), config.compactionRetention());
    this.applier = new Applier(state, proposer, pending, replies, () -> consensus, memberToken);
    applier.systemState(auth);
    applier.systemState(alarms);
    applier.systemState(compaction);
    this.watches = new Watches(config.nodeId(), state, replies, compaction::compactRevisionView, inbox::add,
        config.watchProgressInterval(), new LeaderAbsence(config.nodeId(), () -> consensus.leaderKnown(),
            config.electionTimeoutMax().multipliedBy(LeaderAbsence.ELECTION_TIMEOUTS)));
    // Outermost first when applying: auth (who may), then the quota alarm (is there room), compaction, watches
    // (who is told), the map.
    this.leases = new Leases(state, config.electionTimeoutMax(), pending, this::proposeOps, leaseClock);
    applier.systemState(leases);
    this.authLayer = new AuthLayer(auth, leases::keysOf);
    applier.wrap(watches::around);
    applier.wrap(leases::around);
    applier.wrap(compaction::around);
    applier.wrap(alarms::around);
    applier.wrap(authLayer::around);
    this.writes = new WritePath(config, proposer, pending, replies, retries, ids, () -> consensus,
        () -> loopObserver, inbox::add);
    writes.answeredByLeader(c -> {
      if (!leases.leads(consensus.term())) {
        // Elected, but not yet applied an entry of its term (or this turn's lease tick has not yet taken the
        // leases over): the lease may be granted or renewed in entries not yet applied here. Retried every 20 ms.
        retries.retryOrFail(List.of(c), Error.Code.UNAVAILABLE, "node " + config.nodeId() + " became leader and has"
            + " not yet applied an entry of its term; try again shortly", "");
        return;
      }
      var now = leases.keepAlive(c, replies);
      if (now != null) {
        replies.reply(c, now);
      }
    });
    this.reads = new ReadPath(config, state, applier, pending, replies, retries, ids, inbox::add,
        () -> consensus, c -> BackupRequest.start(c, backupWriter, applier, replies, config.nodeId()), auth,
        alarms);
    reads.leases(leases, authLayer);
  }

  /**
   * Connects the loop to Raft, the leader link, the log mirror and the snapshot writer; must be called before
   * {@link #start()}. Until then the loop sees a Raft that is still starting.
   */
  public void bind(Consensus consensus, Forwarder forwarder, ApplyObserver observer, Snapshotter snapshotter) {
    this.consensus = consensus;
    this.forwarder = forwarder;
    this.applier.observer(observer);
    this.snapshotter = snapshotter;
  }

  /**
   * Raises this node's NOSPACE alarm through the log (as a write of the node's own, forwarded to the leader by a
   * follower); {@code done} gets the answer. Any thread.
   */
  public void raiseNoSpace(String reason, Replier done) throws InterruptedException {
    var r = Request.newBuilder().setId(0).setUser(AuthLayer.SYSTEM).setAlarm(dev.kvraft.proto.Alarm.newBuilder()
        .setAction(dev.kvraft.proto.Alarm.Action.RAISE).setNodeId(config.nodeId()).setReason(reason)).build();
    if (!inbox.submit(r, done, System.nanoTime() + config.requestTimeout().toNanos(), RequestTrace.receivedNow(
        "node " + config.nodeId()))) {
      done.reply(Replies.error(0, Error.Code.OVERLOADED, "the database loop's queue is full", ""));
    }
  }

  /** Proposes ops the loop made itself (lease checkpoints) with the commands their applies answer. */
  private void proposeOps(List<Event.Command> commands, List<dev.kvraft.proto.WriteOp> ops) {
    writes.propose(consensus, commands, ops);
  }

  private ApplyObserver applierObserver() {
    return applier.observer();
  }

  /** The nodes with a raised NOSPACE alarm (a copy); any thread. */
  public java.util.Set<String> alarmsRaisedFor() {
    return alarms.raisedFor();
  }

  /** Users, roles and whether auth is on, as connections may read them (an immutable copy); any thread. */
  public dev.kvraft.server.auth.AuthState.View authView() {
    return auth.view();
  }

  /** What Status reports as this node's data on disk: a cached measurement, never a walk of the disk. */
  public void dataSizes(java.util.function.Supplier<dev.kvraft.proto.DataSize> sizes) {
    this.dataSizes = sizes;
  }

  /** Where watches that start in the past read history (kvraft.db); before {@link #start()}. */
  public void watchHistory(WatchHistory history) {
    watches.history(history);
  }

  /** Where Backup commands write their copies; before {@link #start()} (without it they answer UNAVAILABLE). */
  public void backups(BackupWriter writer) {
    this.backupWriter = writer;
  }

  /** What to do when the leader tells this node it was removed (the server stops itself). */
  public void onRemoved(Runnable hook) {
    this.removedHook = hook;
  }

  /** Connects the metrics; must be called before {@link #start()} (optional). */
  public void observe(RequestObserver requests, LoopObserver turns) {
    replies.observer(requests);
    this.loopObserver = turns;
  }

  public void start() {
    if (started.compareAndSet(false, true)) {
      thread.start();
    }
  }

  // ---- read from any thread -------------------------------------------------------------------

  /** Whether the loop thread died of an exception (it logged why): the node cannot serve until it restarts. */
  public boolean died() {
    return inbox.dead();
  }

  /** The applied index the loop has reached. */
  public long appliedIndex() {
    return applier.appliedIndexView();
  }

  public long revision() {
    return applier.revisionView();
  }

  /** How many applied entries did not decode as a LogEntry and were applied as no-ops. */
  public long rejectedEntries() {
    return applier.rejectedEntries();
  }

  /** Client commands waiting in the loop's queue. */
  public int queuedCommands() {
    return inbox.queuedCommands();
  }

  /** The watch counts: open, not live, events sent, ended by the node ({@link WatchCounts#stats}). */
  public WatchStats watchStats() {
    return watches.counts().stats();
  }

  /** Client commands the loop took and has not answered yet (waiting for Raft, the leader or a retry). */
  public int inFlightCommands() {
    return inFlightView;
  }

  // ---- the ports other threads use; each only queues an event ----------------------------------

  /** The cluster's member token as applied here (for the client port and the leader link; TLS off). */
  public MemberToken memberToken() {
    return memberToken;
  }

  /** For the client port: submit commands. */
  public CommandSink commands() {
    return inbox;
  }

  /** For Raft's state machine: applied entries, snapshots in and out. */
  public StateMachineSink stateMachine() {
    return inbox;
  }

  /** For the leader link: the leader's answers and lost forwards. */
  public Forwarder.Sink forwardSink() {
    return inbox;
  }

  /** Stops taking client commands: from now on they are answered UNAVAILABLE. */
  public void stopAccepting() {
    accepting = false;
  }

  /** Waits until no client request is pending, or the deadline ({@link System#nanoTime()}) passes. */
  public boolean awaitIdle(long deadlineNanos) throws InterruptedException {
    while (System.nanoTime() < deadlineNanos) {
      var idle = new CompletableFuture<Boolean>();
      inbox.add(new Event.Task(() -> idle.complete(pending.isEmpty())));
      try {
        if (idle.get(Math.max(1, deadlineNanos - System.nanoTime()), TimeUnit.NANOSECONDS)) {
          return true;
        }
      } catch (InterruptedException e) {
        throw e;
      } catch (Exception e) {
        return false;
      }
      Thread.sleep(10);
    }
    return false;
  }

  @Override
  public void close() throws InterruptedException {
    accepting = false;
    if (started.get()) {
      inbox.add(new Event.Stop());
      thread.join(TimeUnit.SECONDS.toMillis(10));
    }
  }

  // ---- the loop thread --------------------------------------------------------------------------

  private void run() {
    var batch = new ArrayList<Event>(config.maxBatch());
    var writeBatch = new ArrayList<Event.Command>();
    var readBatch = new ArrayList<Event.Command>();
    var observer = applier.observer();
    int handled = 0;
    try {
      while (true) {
        var first = inbox.poll(commitNotice.nanosUntilDue(pending.nanosUntilFirstRetry(System.nanoTime(),
            TICK_NANOS)));
        long turnStart = System.nanoTime();
        handled = 0;
        if (first != null) {
          batch.add(first);
          inbox.drainTo(batch, config.maxBatch() - 1);
        }
        int events = batch.size();
        replies.term(consensus.term());
        for (handled = 0; handled < batch.size(); handled++) {
          switch (batch.get(handled)) {
            case Event.Command c -> {
              answeredBeforeCommand = replies.answered();
              inbox.commandTaken();
              takenCommands++;
              c.trace().taken(turnStart);
              try {
                handle(c, writeBatch, readBatch);
              } catch (RuntimeException e) {
                if (replies.answered() != answeredBeforeCommand || c.request().hasWatch()
                    || c.request().hasCancelWatch()) {
                  // It had answered, or handed its answer to another thread (a snapshot being written), or it is a
                  // watch's, which registers or removes the watch before it answers: what it left in the loop's
                  // state is unknown, and a second answer would give its connection's slot and bytes back twice.
                  // Stop, as for an apply.
                  throw e;
                }
                commandFailed(c, e);
              }
            }
            case Event.Applied a -> applier.apply(a);
            case Event.MetaApplied m -> applier.applyMeta(m);
            case Event.ProposalFailed f -> writes.proposalFailed(f);
            case Event.BarrierDone b -> reads.barrierDone(b);
            case Event.ForwardReplied r -> forwardReplied(r.response());
            case Event.ForwardFailed f -> forwardFailed(f);
            case Event.CopyState s -> s.done().complete(applier.pointInTime());
            case Event.Install i -> install(i);
            case Event.SnapshotTaken s -> observer.snapshotTaken(s.index());
            case Event.Task t -> t.task().run();
            case Event.ConnectionClosed closed -> watches.closed(closed.sink());
            case Event.Stop s -> {
              failEverything(writeBatch, readBatch);
              return;
            }
          }
        }
        batch.clear();
        observer.flush();
        watches.flush();
        // Before the flush: a read barrier whose reads all expired no longer holds back the reads waiting for the
        // next one, which then go in this turn rather than at the next event or tick.
        expire();
        retries.takeDue(writeBatch, readBatch);
        if (!writeBatch.isEmpty() || !readBatch.isEmpty() || pending.holdsReads()) {
          var route = Route.of(consensus, config, forwarder != null);
          writes.flush(writeBatch, route, forwarder);
          reads.flush(readBatch, route, forwarder);
        }
        reads.answerApplied();
        watches.tick(System.nanoTime());
        memberToken.proposeIfMissing(consensus, ids, proposer);
        compaction.proposeIfDue(consensus, ids, proposer);
        leases.tick(consensus, ids, proposer, replies, applier.appliedTerm());
        commitNotice.afterTurn(consensus, applier.appliedIndex(), pending.proposalsInFlight());
        inFlightView = (int) Math.min(Integer.MAX_VALUE, takenCommands - replies.answered());
        if (events > 0) {
          loopObserver.turn(events, System.nanoTime() - turnStart);
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (RuntimeException | java.lang.Error e) {
      LOG.error("database loop died: {}; this node can no longer serve, restart it", e.toString(), e);
      // The event that threw is failed too (its future may wait). A command's slot was given back when it was taken:
      // it is answered here, unless it had answered or handed its answer on.
      int from = handled;
      try {
        if (handled < batch.size() && batch.get(handled) instanceof Event.Command c) {
          if (replies.answered() == answeredBeforeCommand) {
            replies.error(c, Error.Code.UNAVAILABLE, "node " + config.nodeId() + "'s database loop stopped (" + e
                + "); it cannot serve until it restarts: use another node", "");
          }
          from++; // answered (else the failure below leaves it to inbox.died, which answers it)
        }
      } catch (RuntimeException | java.lang.Error again) {
        LOG.error("could not answer a request as the loop stopped: {}", again.toString());
      } finally {
        inbox.died(e, batch.subList(Math.min(from, batch.size()), batch.size()));
      }
      throw e;
    } finally {
      observer.close();
    }
  }

  /** The command table: every command is a write, a linearizable read, or answered here and now. */
  /**
   * A client command whose handling threw before it answered or handed its answer on: a bug, not the client's fault
   * (whatever it sent passed the validator). Answered INTERNAL and logged with its stack; the loop goes on, since
   * nothing replicated changed: a command changes the data only through an entry it proposes, applied later (a
   * membership change or a leader transfer acts on Raft directly, but only once it hands its answer on). An
   * exception while applying an entry still stops the loop: every node would throw on it alike.
   */
  private void commandFailed(Event.Command c, RuntimeException e) {
    var r = c.request();
    LOG.error("request {} ({}) failed on the database loop: {}; answered INTERNAL. This is a bug in kvraft: please"
        + " report it with this line and the stack below", r.getId(), r.getCommandCase(), e.toString(), e);
    replies.error(c, Error.Code.INTERNAL, "node " + config.nodeId() + " failed on this request; this is a bug in"
        + " kvraft, logged on that node at " + java.time.Instant.now(), "");
  }

  private void handle(Event.Command c, List<Event.Command> writeBatch, List<Event.Command> readBatch) {
    var r = c.request();
    if (!accepting) {
      replies.error(c, Error.Code.UNAVAILABLE, "node " + config.nodeId() + " is shutting down; use another node",
          "");
      return;
    }
    var refused = authLayer.refusal(r);
    if (refused.isPresent()) {
      replies.error(c, refused.get().getCode(), refused.get().getMessage(), "");
      return;
    }
    switch (CommandKind.of(r)) {
      case WRITE -> writeBatch.add(r.hasLeaseGrant() && r.getLeaseGrant().getTtlSeconds() < leases.minTtlSeconds()
          // Raised where it is received, so the entry in the log carries the TTL every node applies.
          ? new Event.Command(r.toBuilder().setLeaseGrant(r.getLeaseGrant().toBuilder()
              .setTtlSeconds(leases.minTtlSeconds())).build(), c.replier(), c.deadline(), c.trace())
          : c);
      // Renewed by the leader, through its next checkpoint entry: routed like a write (a follower forwards it).
      case LEASE_KEEP_ALIVE -> writeBatch.add(c);
      case LEASE_READ -> readBatch.add(c);
      case READ -> readOrAnswer(c, r.hasGet() ? r.getGet().getConsistency() : r.getScan().getConsistency(),
          readBatch);
      // A backup copies the state at a linearizable point: it waits for the same barrier as a LINEARIZABLE read.
      case READ_INDEX, BACKUP -> readBatch.add(c);
      case BACKUP_CHUNK, AUTHENTICATE -> replies.error(c, Error.Code.INVALID_ARGUMENT, r.getCommandCase()
          + " is answered by the connection; it cannot reach the database loop", "");
      // Linearizable like a read: right after a change, any node answers with it.
      case AUTH_READ, ALARM_LIST -> readBatch.add(c);
      case SNAPSHOT -> SnapshotRequest.start(c, snapshotter, applier, replies, config.nodeId());
      case TRANSFER_LEADER -> LeaderTransfer.start(c, config, consensus, replies, ids);
      case MEMBER_CHANGE -> MembershipChange.start(c, config, consensus, replies, ids, forwarder, inbox::add,
          () -> Thread.ofPlatform().name("kvraft-removed").daemon(true).start(removedHook));
      // Answered by the connection itself; one reaching the loop came by some other path: refuse it.
      case MEMBER_HELLO -> replies.error(c, Error.Code.INVALID_ARGUMENT, "MemberHello is the first request of a"
          + " member's link, answered by the connection", "");
      case INFO -> replies.reply(c, r.hasStatus()
          ? replies.respond(r.getId()).setStatus(StatusReport.status(config, consensus, state, applier,
              loopObserver, dataSizes.get()).toBuilder().addAllAlarms(alarms.describe())
              .setCompactRevision(compaction.compactRevisionView()).build()).build()
          : replies.respond(r.getId()).setMembers(StatusReport.members(config, consensus)).build());
      // Served by this node from its own applied log, leader or not.
      case WATCH -> watches.open(c);
      case CANCEL_WATCH -> watches.cancel(c);
      case NONE -> replies.error(c, Error.Code.INVALID_ARGUMENT, "request " + r.getId() + " names no command", "");
    }
  }

  private void readOrAnswer(Event.Command c, Consistency consistency, List<Event.Command> readBatch) {
    if (consistency == Consistency.STALE) {
      replies.reply(c, reads.answer(c.request()));
    } else {
      readBatch.add(c);
    }
  }

  private void forwardReplied(Response r) {
    var read = pending.readIndexDone(r.getId());
    if (read != null) {
      reads.readIndexReplied(read, r);
      return;
    }
    var write = pending.forwardDone(r.getId());
    if (write != null) {
      writes.forwardReplied(write, r);
    }
  }

  private void forwardFailed(Event.ForwardFailed f) {
    for (var id : f.ids()) {
      var read = pending.readIndexDone(id);
      if (read != null) {
        retries.retryOrFail(read.commands(), Error.Code.UNAVAILABLE, "cannot reach the leader: " + f.reason(), "");
      }
      var write = pending.forwardDone(id);
      if (write != null) {
        writes.forwardFailed(write, f.sent(), f.reason());
      }
    }
  }

  private void install(Event.Install i) {
    applier.install(i.at(), i.revision(), i.configuration(), i.kvs(), i.system(), i.why());
    watches.installed(i.revision());
    reads.answerApplied();
    i.done().complete(null);
  }

  // ---- deadlines and shutdown ---------------------------------------------------------------------

  private void expire() {
    var expired = pending.expire(System.nanoTime());
    if (!expired.isEmpty()) {
      expired.proposalIds().forEach(consensus::forget);
      Deadlines.answerExpired(expired, replies, config.requestTimeout().toMillis());
    }
  }

  private void failEverything(List<Event.Command> writeBatch, List<Event.Command> readBatch) {
    var unapplied = new ArrayList<Event.Command>(writeBatch);
    unapplied.addAll(readBatch);
    var left = new ArrayList<Event>();
    inbox.drainTo(left, Integer.MAX_VALUE);
    for (var e : left) {
      if (e instanceof Event.Command c) {
        inbox.commandTaken();
        unapplied.add(c);
      }
    }
    Deadlines.failAll(pending.drain(), unapplied, left, replies, "node " + config.nodeId() + " is shutting down");
    writeBatch.clear();
    readBatch.clear();
  }
}
