package dev.kvraft.server.db;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.kvraft.proto.Consistency;
import dev.kvraft.proto.Error;
import dev.kvraft.proto.GetResult;
import dev.kvraft.proto.Header;
import dev.kvraft.proto.LogEntry;
import dev.kvraft.proto.Member;
import dev.kvraft.proto.MembersResult;
import dev.kvraft.proto.ReadIndex;
import dev.kvraft.proto.ReadIndexResult;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import dev.kvraft.proto.StatusResult;
import dev.kvraft.proto.WriteOp;
import dev.kvraft.server.config.ServerConfig;
import dev.kvraft.storage.EntryKind;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The database loop: one platform thread, {@code kvraft-db}, that alone owns the key-value state ({@link KvState})
 * and every table of pending requests.
 *
 * <p>Everything reaches it as an {@link Event} on one queue, in the order it must be handled: client commands from
 * the connection threads; applied entries, barrier completions and failures from Raft's threads; answers from the
 * leader link. Client commands are bounded by a semaphore of {@code queue.capacity} slots (a connection that cannot
 * get a slot before its deadline answers OVERLOADED); the other events are never bounded, so a Raft thread never
 * waits on client backpressure.
 *
 * <p>Per batch ({@code take} then {@code drainTo}) the loop:
 * <ul>
 *   <li>answers STALE reads, Status and Members at once from memory;
 *   <li>on the leader, packs every write into one {@link LogEntry} and proposes it (group commit), and issues one
 *       read barrier for all LINEARIZABLE reads, answering them when it completes;
 *   <li>on a follower, forwards the writes to the leader's client port in one flush, and asks the leader for one
 *       read index for all LINEARIZABLE reads, answering them from its own copy once it has applied that far;
 *   <li>with no leader known, keeps the requests and tries again shortly, until their deadline;
 *   <li>applies committed entries in log order and answers the writes this node proposed;
 *   <li>fails requests whose deadline passed: TIMEOUT for a write that may still apply, else UNAVAILABLE.
 * </ul>
 * It never blocks on a Raft future or a socket: completions come back as events.
 *
 * <p>Why a barrier's completion is enough for a read on the leader: Raft signals it only after its applied index
 * reached the read index, and the state machine hands every entry to this queue before Raft counts it as applied;
 * so by the time the loop sees the completion it has already applied every entry up to the read index.
 */
public final class DatabaseLoop implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(DatabaseLoop.class);
  private static final long TICK_NANOS = TimeUnit.MILLISECONDS.toNanos(50);
  private static final long RETRY_NANOS = TimeUnit.MILLISECONDS.toNanos(20);

  /** A batch of writes is cut into several log entries past this many bytes of requests. */
  public static final int MAX_ENTRY_BYTES = 4 << 20;

  /** Receives every applied entry, in log order, for the SQLite mirror. */
  public interface ApplyObserver {
    ApplyObserver NONE = new ApplyObserver() {};

    /** Before the entry's ops are applied; the returned listener observes each of them. */
    default KvState.OpListener beginEntry(long term, long index, EntryKind kind, String proposer, int opCount,
        String summary, ByteString payload) {
      return KvState.OpListener.NONE;
    }

    /** After the entry was applied to the map. */
    default void endEntry(long index) {}

    /**
     * After each batch of events the loop handled: hands what was observed since the last call on. (The SQLite
     * mirror then writes it on its own thread and commits at most every {@link MirrorObserver#COMMIT_EVERY_MS} ms,
     * not once per batch.)
     */
    default void flush() {}

    /** A snapshot at {@code index} is on disk: older log history may be pruned. */
    default void snapshotTaken(long index) {}

    default void close() {}
  }

  private final ServerConfig config;
  private final String proposer;
  private final KvState state = new KvState();
  private final LinkedBlockingQueue<Event> inbox = new LinkedBlockingQueue<>();
  private final Semaphore clientSlots;
  private final Thread thread;
  private final AtomicBoolean started = new AtomicBoolean();
  private volatile boolean accepting = true;
  private volatile Supplier<Consensus> consensus = () -> null;
  private volatile Forwarder forwarder;
  private volatile ApplyObserver observer = ApplyObserver.NONE;
  private volatile Snapshotter snapshotter;
  private volatile RequestObserver requestObserver = RequestObserver.NONE;
  private volatile LoopObserver loopObserver = LoopObserver.NONE;

  // ---- owned by the loop thread ----
  /** Writes proposed to Raft by this node, by call id. */
  private final Map<Long, Pending> pendingWrites = new LinkedHashMap<>();
  /** Reads (and followers' ReadIndex requests) waiting for this node's read barrier, by call id. */
  private final Map<Long, Pending> pendingReads = new LinkedHashMap<>();
  /** Writes forwarded to the leader, by forward id (one command each). */
  private final Map<Long, Pending> forwardedWrites = new LinkedHashMap<>();
  /** Reads waiting for the leader's read index, by forward id. */
  private final Map<Long, Pending> readIndexCalls = new LinkedHashMap<>();
  /** Reads with a read index, waiting for this node to apply that far. */
  private final PriorityQueue<Awaiting> awaitingApply = new PriorityQueue<>(Comparator.comparingLong(Awaiting::index));
  /** Requests refused without being applied (no leader yet), tried again shortly until their deadline. */
  private final ArrayDeque<Retry> retries = new ArrayDeque<>();
  private long nextCallId = 1;
  /**
   * Raft's term, read once per batch after the batch was taken (asking Ratis per response is not free): for the
   * response headers and for the rule that a leader reads only after applying an entry of its term.
   */
  private long currentTerm;
  private long appliedIndex = -1;
  private long appliedTerm;
  /** Applied entries that did not decode (see {@link #rejectedEntries()}); written by the loop thread only. */
  private volatile long rejectedEntries;
  private String configuration = "";
  private volatile long appliedIndexView = -1;
  private volatile long revisionView;
  /** Client commands the loop took, and answered (or handed to a snapshot writer); for in-flight. Loop thread. */
  private long takenCommands;
  private long answeredCommands;
  private volatile int inFlightView;

  /** Client commands waiting on one call, in order; for a proposal, command i is op i of the entry. */
  private record Pending(List<Event.Command> commands, long deadline) {
    static Pending of(List<Event.Command> commands) {
      return new Pending(List.copyOf(commands),
          commands.stream().mapToLong(Event.Command::deadline).min().orElse(Long.MAX_VALUE));
    }
  }

  private record Retry(List<Event.Command> commands, long at) {}

  private record Awaiting(long index, Pending pending) {}

  public DatabaseLoop(ServerConfig config, String proposer) {
    this.config = config;
    this.proposer = proposer;
    this.clientSlots = new Semaphore(config.queueCapacity());
    this.thread = Thread.ofPlatform().name("kvraft-db").unstarted(this::run);
  }

  /**
   * Connects the loop to Raft, the leader link, the log mirror and the snapshot writer; must be called before
   * {@link #start()}.
   */
  public void bind(Supplier<Consensus> consensus, Forwarder forwarder, ApplyObserver observer,
      Snapshotter snapshotter) {
    this.consensus = consensus;
    this.forwarder = forwarder;
    this.observer = observer;
    this.snapshotter = snapshotter;
  }

  /** Connects the metrics; must be called before {@link #start()} (optional). */
  public void observe(RequestObserver requests, LoopObserver turns) {
    this.requestObserver = requests;
    this.loopObserver = turns;
  }

  public void start() {
    if (started.compareAndSet(false, true)) {
      thread.start();
    }
  }

  /** The proposer name this node writes into its log entries: node id plus a per-boot id. */
  public String proposer() {
    return proposer;
  }

  /** The applied index the loop has reached; readable from any thread. */
  public long appliedIndex() {
    return appliedIndexView;
  }

  public long revision() {
    return revisionView;
  }

  // ---- called from other threads -------------------------------------------------------------

  /**
   * Hands a validated client command to the loop, waiting for a queue slot at most until its deadline.
   *
   * @return false when no slot freed up in time (the caller answers OVERLOADED)
   */
  public boolean submit(Request request, Replier replier, long deadline) throws InterruptedException {
    return submit(request, replier, deadline, RequestTrace.receivedNow("in-process"));
  }

  /** As {@link #submit(Request, Replier, long)}, with the trace the request was read with. */
  public boolean submit(Request request, Replier replier, long deadline, RequestTrace trace)
      throws InterruptedException {
    long wait = deadline - System.nanoTime();
    if (!clientSlots.tryAcquire(Math.max(0, wait), TimeUnit.NANOSECONDS)) {
      return false;
    }
    inbox.add(new Event.Command(request, replier, deadline, trace));
    return true;
  }

  /** Who is told of every answered request (metrics, the slow-request log); any thread. */
  public RequestObserver requestObserver() {
    return requestObserver;
  }

  /** Client commands waiting in the loop's queue; any thread. */
  public int queuedCommands() {
    return config.queueCapacity() - clientSlots.availablePermits();
  }

  /** Client commands the loop took and has not answered yet (waiting for Raft, the leader or a retry); any thread. */
  public int inFlightCommands() {
    return inFlightView;
  }

  /** From the state machine, on Raft's apply thread: one committed entry. Never blocks. */
  public CompletableFuture<Void> applied(long term, long index, ByteString payload) {
    var done = new CompletableFuture<Void>();
    inbox.add(new Event.Applied(term, index, payload, done));
    return done;
  }

  /** From the state machine, on Raft's apply thread: a configuration or metadata entry. Never blocks. */
  public CompletableFuture<Void> metaApplied(long term, long index, EntryKind kind, String summary) {
    var done = new CompletableFuture<Void>();
    inbox.add(new Event.MetaApplied(term, index, kind, summary, done));
    return done;
  }

  /** The sink the leader link reports to. */
  public Forwarder.Sink forwardSink() {
    return new Forwarder.Sink() {
      @Override
      public void replied(Response response) {
        inbox.add(new Event.ForwardReplied(response));
      }

      @Override
      public void failed(List<Long> ids, boolean sent, String reason) {
        inbox.add(new Event.ForwardFailed(ids, sent, reason));
      }
    };
  }

  /** Runs a task on the loop thread and returns its result. */
  public <T> CompletableFuture<T> call(Supplier<T> task) {
    var f = new CompletableFuture<T>();
    inbox.add(new Event.Task(() -> {
      try {
        f.complete(task.get());
      } catch (RuntimeException e) {
        f.completeExceptionally(e);
      }
    }));
    return f;
  }

  /** Stops taking client commands: from now on they are answered UNAVAILABLE. */
  public void stopAccepting() {
    accepting = false;
  }

  /** Waits until no client request is pending, or the deadline ({@link System#nanoTime()}) passes. */
  public boolean awaitIdle(long deadlineNanos) throws InterruptedException {
    while (System.nanoTime() < deadlineNanos) {
      boolean idle;
      try {
        idle = call(this::idle).get(Math.max(1, deadlineNanos - System.nanoTime()), TimeUnit.NANOSECONDS);
      } catch (Exception e) {
        return false;
      }
      if (idle) {
        return true;
      }
      Thread.sleep(10);
    }
    return false;
  }

  private boolean idle() {
    return pendingWrites.isEmpty() && pendingReads.isEmpty() && forwardedWrites.isEmpty()
        && readIndexCalls.isEmpty() && awaitingApply.isEmpty() && retries.isEmpty();
  }

  @Override
  public void close() throws InterruptedException {
    accepting = false;
    if (started.get()) {
      inbox.add(new Event.Stop());
      thread.join(TimeUnit.SECONDS.toMillis(10));
    }
  }

  // ---- the loop thread ----------------------------------------------------------------------

  private void run() {
    var batch = new ArrayList<Event>(config.maxBatch());
    var writes = new ArrayList<Event.Command>();
    var reads = new ArrayList<Event.Command>();
    try {
      while (true) {
        var first = inbox.poll(TICK_NANOS, TimeUnit.NANOSECONDS);
        long turnStart = System.nanoTime();
        if (first != null) {
          batch.add(first);
          inbox.drainTo(batch, config.maxBatch() - 1);
        }
        int events = batch.size();
        var raftNow = consensus.get();
        currentTerm = raftNow == null ? 0 : raftNow.term();
        for (var event : batch) {
          switch (event) {
            case Event.Command c -> {
              clientSlots.release();
              takenCommands++;
              c.trace().taken(turnStart);
              handleCommand(c, writes, reads);
            }
            case Event.Applied a -> apply(a);
            case Event.MetaApplied m -> applyMeta(m);
            case Event.ProposalFailed f -> proposalFailed(f);
            case Event.BarrierDone b -> barrierDone(b);
            case Event.ForwardReplied r -> forwardReplied(r.response());
            case Event.ForwardFailed f -> forwardFailed(f);
            case Event.Task t -> t.task().run();
            case Event.Stop s -> {
              failEverything(writes, reads);
              return;
            }
          }
        }
        batch.clear();
        observer.flush();
        takeDueRetries(writes, reads);
        flushWrites(writes);
        flushReads(reads);
        answerApplied();
        expire();
        inFlightView = (int) Math.min(Integer.MAX_VALUE, takenCommands - answeredCommands);
        if (events > 0) {
          loopObserver.turn(events, System.nanoTime() - turnStart);
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (RuntimeException | java.lang.Error e) {
      LOG.error("database loop died: {}; this node can no longer serve, restart it", e.toString(), e);
      throw e;
    } finally {
      observer.close();
    }
  }

  private void handleCommand(Event.Command c, List<Event.Command> writes, List<Event.Command> reads) {
    var r = c.request();
    if (!accepting) {
      reply(c, error(r.getId(), Error.Code.UNAVAILABLE, "node " + config.nodeId() + " is shutting down; "
          + "use another node", ""));
      return;
    }
    switch (r.getCommandCase()) {
      case PUT, DELETE, TXN -> writes.add(c);
      case GET -> {
        if (r.getGet().getConsistency() == Consistency.STALE) {
          reply(c, answerRead(r));
        } else {
          reads.add(c);
        }
      }
      case SCAN -> {
        if (r.getScan().getConsistency() == Consistency.STALE) {
          reply(c, answerRead(r));
        } else {
          reads.add(c);
        }
      }
      case READ_INDEX -> reads.add(c);
      case SNAPSHOT -> snapshotNow(c);
      case STATUS -> reply(c, respond(r.getId()).setStatus(status()).build());
      case MEMBERS -> reply(c, respond(r.getId()).setMembers(members()).build());
      case COMMAND_NOT_SET -> reply(c,
          error(r.getId(), Error.Code.INVALID_ARGUMENT, "request " + r.getId() + " names no command", ""));
    }
  }

  // ---- routing ------------------------------------------------------------------------------

  /** Where a batch goes now. */
  private sealed interface Route {
    record Local(Consensus raft) implements Route {}

    record Leader(String address) implements Route {}

    record NoLeader(String why) implements Route {}
  }

  private Route route() {
    var raft = consensus.get();
    if (raft == null) {
      return new Route.NoLeader("node " + config.nodeId() + " is still starting");
    }
    if (raft.isLeader()) {
      return new Route.Local(raft);
    }
    var info = raft.info();
    if (info.leaderId().isEmpty()) {
      return new Route.NoLeader("no leader is known to node " + config.nodeId() + " (is a quorum of nodes up?)");
    }
    var leader = config.peer(info.leaderId());
    if (leader.isEmpty() || forwarder == null) {
      return new Route.NoLeader("leader " + info.leaderId() + " is not in this node's cluster setting");
    }
    return new Route.Leader(leader.get().clientAddress());
  }

  private void flushWrites(List<Event.Command> writes) {
    if (writes.isEmpty()) {
      return;
    }
    switch (route()) {
      case Route.Local local -> proposeAll(local.raft(), writes);
      case Route.Leader leader -> forwardWrites(leader.address(), writes);
      case Route.NoLeader none -> retryOrFail(List.copyOf(writes), Error.Code.UNAVAILABLE, none.why(), "");
    }
    writes.clear();
  }

  private void flushReads(List<Event.Command> reads) {
    if (reads.isEmpty()) {
      return;
    }
    var commands = List.copyOf(reads);
    reads.clear();
    switch (route()) {
      case Route.Local local -> {
        long callId = nextCallId++;
        pendingReads.put(callId, Pending.of(commands));
        local.raft().readBarrier(callId).whenComplete((ok, err) -> inbox.add(new Event.BarrierDone(callId, err)));
      }
      case Route.Leader leader -> {
        var mine = new ArrayList<Event.Command>();
        for (var c : commands) {
          if (c.request().getForwarded() || c.request().hasReadIndex()) {
            notLeader(c, leader.address());
          } else {
            mine.add(c);
          }
        }
        if (mine.isEmpty()) {
          return;
        }
        long fwdId = nextCallId++;
        readIndexCalls.put(fwdId, Pending.of(mine));
        forwarder.send(leader.address(), List.of(Request.newBuilder().setId(fwdId).setForwarded(true)
            .setTimeoutMs(remainingMillis(readIndexCalls.get(fwdId).deadline()))
            .setReadIndex(ReadIndex.getDefaultInstance()).build()));
      }
      case Route.NoLeader none -> retryOrFail(commands, Error.Code.UNAVAILABLE, none.why(), "");
    }
  }

  /**
   * What is left of a deadline, for the leader: a little less than ours, so its answer arrives before we give up.
   */
  private static int remainingMillis(long deadline) {
    long ms = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()) - 20;
    return (int) Math.max(1, Math.min(Integer.MAX_VALUE, ms));
  }

  /** A request that must not be forwarded again reached a node that is not the leader. */
  private void notLeader(Event.Command c, String leaderAddress) {
    reply(c, error(c.request().getId(), Error.Code.UNAVAILABLE,
        "node " + config.nodeId() + " is not the leader; the leader is at " + leaderAddress, leaderAddress));
  }

  private void forwardWrites(String leaderAddress, List<Event.Command> writes) {
    var batch = new ArrayList<Request>(writes.size());
    for (var c : writes) {
      if (c.request().getForwarded()) {
        notLeader(c, leaderAddress);
        continue;
      }
      long fwdId = nextCallId++;
      forwardedWrites.put(fwdId, Pending.of(List.of(c)));
      batch.add(c.request().toBuilder().setId(fwdId).setForwarded(true)
          .setTimeoutMs(remainingMillis(c.deadline())).build());
    }
    if (!batch.isEmpty()) {
      forwarder.send(leaderAddress, batch);
    }
  }

  private void forwardReplied(Response r) {
    var read = readIndexCalls.remove(r.getId());
    if (read != null) {
      if (r.hasError()) {
        retryOrFail(read.commands(), r.getError().getCode(), r.getError().getMessage(),
            r.getError().getLeaderAddress());
      } else {
        awaitingApply.add(new Awaiting(r.getReadIndex().getIndex(), read));
      }
      return;
    }
    var write = forwardedWrites.remove(r.getId());
    if (write == null) {
      return;
    }
    var c = write.commands().get(0);
    c.trace().raftDone(System.nanoTime());
    if (r.hasError() && r.getError().getCode() == Error.Code.UNAVAILABLE) {
      // The leader did not apply it (UNAVAILABLE is definite): route it again, maybe to a new leader.
      retryOrFail(write.commands(), Error.Code.UNAVAILABLE, r.getError().getMessage(),
          r.getError().getLeaderAddress());
      return;
    }
    reply(c, r.toBuilder().setId(c.request().getId()).build());
  }

  private void forwardFailed(Event.ForwardFailed f) {
    for (var id : f.ids()) {
      var read = readIndexCalls.remove(id);
      if (read != null) {
        retryOrFail(read.commands(), Error.Code.UNAVAILABLE, "cannot reach the leader: " + f.reason(), "");
      }
      var write = forwardedWrites.remove(id);
      if (write != null) {
        if (f.sent()) {
          for (var c : write.commands()) {
            reply(c, error(c.request().getId(), Error.Code.TIMEOUT, "lost the connection to the leader after "
                + "forwarding the write (" + f.reason() + "); it may or may not have been applied", ""));
          }
        } else {
          retryOrFail(write.commands(), Error.Code.UNAVAILABLE, "cannot reach the leader: " + f.reason(), "");
        }
      }
    }
  }

  // ---- proposing on the leader --------------------------------------------------------------

  private void proposeAll(Consensus raft, List<Event.Command> writes) {
    int from = 0;
    long bytes = 0;
    for (int i = 0; i < writes.size(); i++) {
      int size = writes.get(i).request().getSerializedSize();
      if (i > from && bytes + size > MAX_ENTRY_BYTES) {
        propose(raft, writes.subList(from, i));
        from = i;
        bytes = 0;
      }
      bytes += size;
    }
    propose(raft, writes.subList(from, writes.size()));
  }

  /** Packs client writes into one log entry and proposes it. */
  private void propose(Consensus raft, List<Event.Command> batch) {
    long callId = nextCallId++;
    var entry = LogEntry.newBuilder().setProposer(proposer).setProposalId(callId);
    for (var c : batch) {
      var r = c.request();
      var op = WriteOp.newBuilder();
      switch (r.getCommandCase()) {
        case PUT -> op.setPut(r.getPut());
        case DELETE -> op.setDelete(r.getDelete());
        case TXN -> op.setTxn(r.getTxn());
        default -> throw new IllegalStateException("not a write: " + r.getCommandCase());
      }
      entry.addOps(op);
    }
    pendingWrites.put(callId, Pending.of(batch));
    var bytes = entry.build().toByteString();
    loopObserver.proposed(batch.size(), bytes.size());
    raft.propose(callId, bytes).whenComplete((ok, err) -> {
      if (err != null) {
        inbox.add(new Event.ProposalFailed(callId, err));
      }
    });
  }

  private void proposalFailed(Event.ProposalFailed f) {
    var raft = consensus.get();
    if (raft != null && raft.wasAppended(f.callId())) {
      // It reached the log: it may still commit. Keep waiting for it; the deadline answers TIMEOUT otherwise.
      LOG.debug("proposal {} failed after it was appended ({}); its outcome is unknown until applied or expired",
          f.callId(), f.cause().toString());
      return;
    }
    var pending = pendingWrites.remove(f.callId());
    if (pending != null) {
      var err = failure(f.cause());
      retryOrFail(pending.commands(), err.code(), err.getMessage(), leaderAddress(err.leaderId()));
    }
  }

  private void barrierDone(Event.BarrierDone b) {
    var pending = pendingReads.remove(b.callId());
    if (pending == null) {
      return;
    }
    if (b.cause() != null) {
      var err = failure(b.cause());
      retryOrFail(pending.commands(), err.code(), err.getMessage(), leaderAddress(err.leaderId()));
      return;
    }
    if (appliedTerm < currentTerm) {
      // A new leader knows the whole committed log only once an entry of its own term is committed. Ratis checks
      // that before granting a read index, except in a one-node group, whose read index is its commit index as
      // recovered from disk: answer only after applying an entry of this term, as etcd's leader does.
      retryOrFail(pending.commands(), Error.Code.UNAVAILABLE, "node " + config.nodeId() + " became leader in term "
          + currentTerm + " and has not yet applied an entry of that term; try again shortly", "");
      return;
    }
    long now = System.nanoTime();
    pending.commands().forEach(c -> {
      c.trace().raftDone(now);
      reply(c, answerRead(c.request()));
    });
  }

  /**
   * The commands were not applied. UNAVAILABLE (no leader yet, leader not ready, leader changed) is tried again
   * shortly until the deadline, as etcd does; anything else is answered now.
   */
  private void retryOrFail(List<Event.Command> commands, Error.Code code, String message, String leaderAddress) {
    long now = System.nanoTime();
    var retry = new ArrayList<Event.Command>();
    for (var c : commands) {
      if (code == Error.Code.UNAVAILABLE && accepting && !c.request().getForwarded()
          && c.deadline() - now > RETRY_NANOS) {
        retry.add(c);
      } else {
        reply(c, error(c.request().getId(), code, message, leaderAddress));
      }
    }
    if (!retry.isEmpty()) {
      retries.add(new Retry(retry, now + RETRY_NANOS));
    }
  }

  private void takeDueRetries(List<Event.Command> writes, List<Event.Command> reads) {
    long now = System.nanoTime();
    while (!retries.isEmpty() && retries.peek().at() - now <= 0) {
      for (var c : retries.poll().commands()) {
        if (isWrite(c.request())) {
          writes.add(c);
        } else {
          reads.add(c);
        }
      }
    }
  }

  private static boolean isWrite(Request r) {
    return switch (r.getCommandCase()) {
      case PUT, DELETE, TXN -> true;
      default -> false;
    };
  }

  /** How many applied entries did not decode as a LogEntry and were applied as no-ops. Any thread. */
  public long rejectedEntries() {
    return rejectedEntries;
  }

  // ---- applying -----------------------------------------------------------------------------

  private void apply(Event.Applied a) {
    LogEntry entry;
    try {
      entry = LogEntry.parseFrom(a.payload());
    } catch (InvalidProtocolBufferException e) {
      // Apply is total: every node records the same no-op, the revision stays where it was.
      rejectedEntries++;
      LOG.warn("log entry {} (term {}, {} bytes) does not decode as a kvraft LogEntry ({}); applied as a no-op, "
          + "recorded in kvraft.db as kind 'rejected'", a.index(), a.term(), a.payload().size(), e.getMessage());
      observer.beginEntry(a.term(), a.index(), EntryKind.REJECTED, "", 0, "rejected: " + e.getMessage(),
          a.payload());
      observer.endEntry(a.index());
      advance(a.term(), a.index());
      a.done().complete(null);
      return;
    }
    Pending pending = null;
    if (entry.getProposer().equals(proposer)) {
      pending = pendingWrites.remove(entry.getProposalId());
      var raft = consensus.get();
      if (raft != null) {
        raft.forget(entry.getProposalId());
      }
    }
    long now = System.nanoTime();
    var listener = observer.beginEntry(a.term(), a.index(), EntryKind.NORMAL, entry.getProposer(), entry.getOpsCount(),
        Summaries.of(entry), a.payload());
    for (int i = 0; i < entry.getOpsCount(); i++) {
      var response = state.apply(entry.getOps(i), listener);
      if (pending != null && i < pending.commands().size()) {
        var c = pending.commands().get(i);
        c.trace().raftDone(now);
        reply(c, response.setId(c.request().getId()).setHeader(header()).build());
      }
    }
    observer.endEntry(a.index());
    advance(a.term(), a.index());
    a.done().complete(null);
  }

  private void applyMeta(Event.MetaApplied m) {
    observer.beginEntry(m.term(), m.index(), m.kind(), "", 0, m.summary(), ByteString.EMPTY);
    observer.endEntry(m.index());
    if (m.kind() == EntryKind.CONFIGURATION) {
      configuration = m.summary();
    }
    advance(m.term(), m.index());
    m.done().complete(null);
  }

  private void advance(long term, long index) {
    appliedTerm = term;
    appliedIndex = index;
    appliedIndexView = index;
    revisionView = state.revision();
  }

  /** Answers the follower reads whose read index this node has now applied. */
  private void answerApplied() {
    while (!awaitingApply.isEmpty() && awaitingApply.peek().index() <= appliedIndex) {
      long now = System.nanoTime();
      awaitingApply.poll().pending().commands().forEach(c -> {
        c.trace().raftDone(now);
        reply(c, answerRead(c.request()));
      });
    }
  }

  // ---- snapshots ----------------------------------------------------------------------------

  /**
   * The state at the applied index, copied between two applies (loop thread only; others use {@link #call}).
   * The copy is shallow: {@link KvState.Entry}s are immutable.
   */
  public Snapshotter.PointInTime pointInTime() {
    long start = System.nanoTime();
    var copy = state.copy();
    return new Snapshotter.PointInTime(appliedTerm, Math.max(0, appliedIndex), state.revision(), configuration,
        copy, System.nanoTime() - start);
  }

  /** Replaces the whole state with a snapshot's (loop thread only). */
  public void install(long term, long index, long revision, String conf, List<KvState.Entry> kvs,
      String why) {
    state.reset(revision, kvs);
    configuration = conf == null ? "" : conf;
    observer.beginEntry(term, index, EntryKind.SNAPSHOT_INSTALL, "", 0, why + ": " + kvs.size() + " keys at revision "
        + revision, ByteString.EMPTY);
    observer.endEntry(index);
    observer.flush();
    advance(term, index);
    answerApplied();
  }

  /** Tells the mirror a snapshot is on disk (any thread). */
  public void snapshotTaken(long index) {
    inbox.add(new Event.Task(() -> observer.snapshotTaken(index)));
  }

  private void snapshotNow(Event.Command c) {
    var writer = snapshotter;
    if (writer == null) {
      reply(c, error(c.request().getId(), Error.Code.UNAVAILABLE, "snapshots are not set up on this node", ""));
      return;
    }
    var id = c.request().getId();
    answeredCommands++; // answered by the snapshot writer's thread from here on
    writer.write(pointInTime()).whenComplete((w, err) -> {
      if (err != null) {
        var cause = Failures.cause(err);
        answer(c, error(id, Error.Code.INTERNAL, "snapshot failed: " + cause.getMessage(), ""));
        return;
      }
      answer(c, Response.newBuilder().setId(id)
          .setHeader(Header.newBuilder().setNodeId(config.nodeId()).setRevision(w.revision()))
          .setSnapshot(dev.kvraft.proto.SnapshotResult.newBuilder()
              .setTerm(w.term()).setIndex(w.index()).setRevision(w.revision()).setKeyCount(w.keyCount())
              .setFile(w.file()).setBytes(w.bytes())
              .setCopyMicros(TimeUnit.NANOSECONDS.toMicros(w.copyNanos()))
              .setWriteMicros(TimeUnit.NANOSECONDS.toMicros(w.writeNanos())))
          .build());
    });
  }

  // ---- deadlines and shutdown ---------------------------------------------------------------

  private void expire() {
    long now = System.nanoTime();
    expire(pendingWrites, now, true);
    expire(forwardedWrites, now, true);
    expire(pendingReads, now, false);
    expire(readIndexCalls, now, false);
    for (var it = awaitingApply.iterator(); it.hasNext(); ) {
      var a = it.next();
      if (a.pending().deadline() - now <= 0) {
        it.remove();
        timedOut(a.pending(), false);
      }
    }
  }

  private void expire(Map<Long, Pending> table, long now, boolean writes) {
    for (var it = table.entrySet().iterator(); it.hasNext(); ) {
      var e = it.next();
      if (e.getValue().deadline() - now <= 0) {
        it.remove();
        timedOut(e.getValue(), writes);
        var raft = consensus.get();
        if (table == pendingWrites && raft != null) {
          raft.forget(e.getKey());
        }
      }
    }
  }

  private void timedOut(Pending p, boolean writes) {
    var ms = config.requestTimeout().toMillis();
    for (var c : p.commands()) {
      reply(c, writes
          ? error(c.request().getId(), Error.Code.TIMEOUT, "write not confirmed within " + ms
              + " ms; it may or may not have been applied (read the key to find out)", "")
          : error(c.request().getId(), Error.Code.UNAVAILABLE, "read not confirmed by a quorum within " + ms
              + " ms (is a quorum of nodes up?)", ""));
    }
  }

  private void failEverything(List<Event.Command> writes, List<Event.Command> reads) {
    var why = "node " + config.nodeId() + " is shutting down";
    for (var table : List.of(pendingWrites, forwardedWrites)) {
      for (var p : table.values()) {
        p.commands().forEach(c -> reply(c, error(c.request().getId(), Error.Code.TIMEOUT,
            why + "; the write may or may not have been applied", "")));
      }
      table.clear();
    }
    var unapplied = new ArrayList<Event.Command>(writes);
    unapplied.addAll(reads);
    pendingReads.values().forEach(p -> unapplied.addAll(p.commands()));
    readIndexCalls.values().forEach(p -> unapplied.addAll(p.commands()));
    awaitingApply.forEach(a -> unapplied.addAll(a.pending().commands()));
    retries.forEach(r -> unapplied.addAll(r.commands()));
    for (Event e; (e = inbox.poll()) != null; ) {
      switch (e) {
        case Event.Command c -> {
          clientSlots.release();
          unapplied.add(c);
        }
        case Event.Applied a -> a.done().completeExceptionally(new IllegalStateException("database loop stopped"));
        case Event.MetaApplied m -> m.done().completeExceptionally(new IllegalStateException("database loop stopped"));
        default -> { }
      }
    }
    unapplied.forEach(c -> reply(c, error(c.request().getId(), Error.Code.UNAVAILABLE, why, "")));
    pendingReads.clear();
    readIndexCalls.clear();
    awaitingApply.clear();
    retries.clear();
    writes.clear();
    reads.clear();
  }

  // ---- answers --------------------------------------------------------------------------------

  /** Answers a command (loop thread). */
  private void reply(Event.Command c, Response r) {
    answeredCommands++;
    answer(c, r);
  }

  /** Answers a command from any thread: tells the observer, then queues the response on its connection. */
  private void answer(Event.Command c, Response r) {
    requestObserver.answered(c.request(), r, c.trace());
    c.replier().reply(r);
  }

  private Response answerRead(Request r) {
    var response = respond(r.getId());
    switch (r.getCommandCase()) {
      case GET -> {
        var kv = state.get(r.getGet().getKey());
        var g = GetResult.newBuilder();
        if (kv != null) {
          g.setKv(kv);
        }
        response.setGet(g);
      }
      case SCAN -> response.setScan(state.scan(r.getScan(), config.limits().maxScanLimit()));
      case READ_INDEX -> response.setReadIndex(ReadIndexResult.newBuilder().setIndex(Math.max(0, appliedIndex)));
      default -> throw new IllegalStateException("not a read: " + r.getCommandCase());
    }
    return response.build();
  }

  private Response.Builder respond(long id) {
    return Response.newBuilder().setId(id).setHeader(header());
  }

  private Header header() {
    return Header.newBuilder().setRevision(state.revision()).setNodeId(config.nodeId()).setTerm(currentTerm)
        .build();
  }

  private StatusResult status() {
    var raft = consensus.get();
    var info = raft == null ? Consensus.Info.UNKNOWN : raft.info();
    var status = StatusResult.newBuilder();
    if (raft != null) {
      for (var f : raft.followers()) {
        status.addFollowers(dev.kvraft.proto.FollowerProgress.newBuilder().setId(f.id())
            .setMatchIndex(Math.max(0, f.matchIndex()))
            .setLag(Math.max(0, info.commitIndex() - f.matchIndex())));
      }
    }
    loopObserver.describe(status);
    return status
        .setNodeId(config.nodeId())
        .setRole(info.role())
        .setTerm(info.term())
        .setLeaderId(info.leaderId())
        .setCommitIndex(Math.max(0, info.commitIndex()))
        .setAppliedIndex(Math.max(0, appliedIndex))
        .setSnapshotIndex(Math.max(0, info.snapshotIndex()))
        .setRevision(state.revision())
        .setKeyCount(state.size())
        .addAllMembers(memberList(info.leaderId()))
        .build();
  }

  private MembersResult members() {
    var raft = consensus.get();
    var leader = raft == null ? "" : raft.info().leaderId();
    return MembersResult.newBuilder().addAllMembers(memberList(leader)).setLeaderId(leader).build();
  }

  private List<Member> memberList(String leaderId) {
    var list = new ArrayList<Member>();
    for (var p : config.cluster()) {
      list.add(Member.newBuilder()
          .setId(p.id())
          .setClientAddress(p.clientAddress())
          .setPeerAddress(p.peerAddress())
          .setLeader(p.id().equals(leaderId))
          .build());
    }
    return list;
  }

  private String leaderAddress(String leaderId) {
    return config.peer(leaderId).map(p -> p.clientAddress()).orElse("");
  }

  private static ConsensusException failure(Throwable thrown) {
    var t = Failures.cause(thrown);
    if (t instanceof ConsensusException ce) {
      return ce;
    }
    return new ConsensusException(Error.Code.INTERNAL, "raft failed the request: " + t, "");
  }

  static Response error(long id, Error.Code code, String message, String leaderAddress) {
    return Response.newBuilder()
        .setId(id)
        .setError(Error.newBuilder().setCode(code).setMessage(message).setLeaderAddress(leaderAddress))
        .build();
  }
}
