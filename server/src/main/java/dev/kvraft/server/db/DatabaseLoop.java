package dev.kvraft.server.db;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.kvraft.proto.Error;
import dev.kvraft.proto.GetResult;
import dev.kvraft.proto.Header;
import dev.kvraft.proto.LogEntry;
import dev.kvraft.proto.Member;
import dev.kvraft.proto.MembersResult;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import dev.kvraft.proto.StatusResult;
import dev.kvraft.proto.WriteOp;
import dev.kvraft.server.config.ServerConfig;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The database loop: one platform thread, {@code kvraft-db}, that alone owns the key-value state ({@link KvState}),
 * the table of pending writes and the table of pending reads.
 *
 * <p>Everything reaches it as an {@link Event} on one queue, in the order it must be handled: client commands from
 * the connection threads, and applied entries, barrier completions and failures from Raft's threads. Client commands
 * are bounded by a semaphore of {@code queue.capacity} slots (a connection that cannot get a slot before its deadline
 * answers OVERLOADED); Raft's events are never bounded, so a Raft thread never waits on client backpressure.
 *
 * <p>Per batch ({@code take} then {@code drainTo}) the loop:
 * <ul>
 *   <li>packs every write into one {@link LogEntry} and proposes it (group commit);
 *   <li>issues one read barrier for every LINEARIZABLE read, and answers them when it completes;
 *   <li>answers STALE reads, Status and Members at once from memory;
 *   <li>applies committed entries in log order and answers the writes this node proposed;
 *   <li>fails requests whose deadline passed.
 * </ul>
 * It never blocks on a Raft future: completions come back as events.
 *
 * <p>Why a barrier's completion is enough for a read: Raft signals it only after its applied index reached the read
 * index, and the state machine hands every entry to this queue before Raft counts it as applied; so by the time the
 * loop sees the completion it has already applied every entry up to the read index.
 */
public final class DatabaseLoop implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(DatabaseLoop.class);
  private static final long TICK_NANOS = TimeUnit.MILLISECONDS.toNanos(50);

  /** A batch of writes is cut into several log entries past this many bytes of requests. */
  public static final int MAX_ENTRY_BYTES = 4 << 20;

  /** Receives every applied entry, in log order, for the SQLite mirror. */
  public interface ApplyObserver {
    ApplyObserver NONE = new ApplyObserver() {};

    /** Before the entry's ops are applied; {@code ops} observes each of them. */
    default KvState.OpListener beginEntry(long term, long index, String kind, String proposer, int opCount,
        String summary, ByteString payload) {
      return KvState.OpListener.NONE;
    }

    /** After the entry was applied to the map. */
    default void endEntry(long index) {}
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
  private volatile ApplyObserver observer = ApplyObserver.NONE;

  // Owned by the loop thread.
  private final Map<Long, Pending> pendingWrites = new LinkedHashMap<>();
  private final Map<Long, Pending> pendingReads = new LinkedHashMap<>();
  private long nextCallId = 1;
  private long appliedIndex = -1;
  private long appliedTerm;
  private volatile long appliedIndexView = -1;
  private volatile long revisionView;

  /** Client commands waiting on Raft, in proposal order; {@code commands.get(i)} is op {@code i} of the entry. */
  private record Pending(List<Event.Command> commands, long deadline) {}

  /** Commands Raft refused without applying (no leader yet): tried again at {@code at} until their deadline. */
  private record Retry(List<Event.Command> commands, long at) {}

  private static final long RETRY_NANOS = TimeUnit.MILLISECONDS.toNanos(20);
  private final java.util.ArrayDeque<Retry> retries = new java.util.ArrayDeque<>();

  public DatabaseLoop(ServerConfig config, String proposer) {
    this.config = config;
    this.proposer = proposer;
    this.clientSlots = new Semaphore(config.queueCapacity());
    this.thread = Thread.ofPlatform().name("kvraft-db").daemon(false).unstarted(this::run);
  }

  /** Connects the loop to Raft; must be called before {@link #start()}. */
  public void bind(Supplier<Consensus> consensus, ApplyObserver observer) {
    this.consensus = consensus;
    this.observer = observer;
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
    long wait = deadline - System.nanoTime();
    if (!clientSlots.tryAcquire(Math.max(0, wait), TimeUnit.NANOSECONDS)) {
      return false;
    }
    inbox.add(new Event.Command(request, replier, deadline));
    return true;
  }

  /** From the state machine, on Raft's apply thread: one committed entry. Never blocks. */
  public CompletableFuture<Void> applied(long term, long index, ByteString payload) {
    var done = new CompletableFuture<Void>();
    inbox.add(new Event.Applied(term, index, payload, done));
    return done;
  }

  /** From the state machine, on Raft's apply thread: a configuration or metadata entry. Never blocks. */
  public CompletableFuture<Void> metaApplied(long term, long index, String kind, String summary) {
    var done = new CompletableFuture<Void>();
    inbox.add(new Event.MetaApplied(term, index, kind, summary, done));
    return done;
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

  /** Waits until no client write or read is pending, or the deadline passes. */
  public boolean awaitIdle(long deadlineNanos) throws InterruptedException {
    while (System.nanoTime() < deadlineNanos) {
      boolean idle;
      try {
        idle = call(() -> pendingWrites.isEmpty() && pendingReads.isEmpty() && retries.isEmpty())
            .get(Math.max(1, deadlineNanos - System.nanoTime()), TimeUnit.NANOSECONDS);
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
        if (first != null) {
          batch.add(first);
          inbox.drainTo(batch, config.maxBatch() - 1);
        }
        for (var event : batch) {
          switch (event) {
            case Event.Command c -> {
              clientSlots.release();
              handleCommand(c, writes, reads);
            }
            case Event.Applied a -> apply(a);
            case Event.MetaApplied m -> applyMeta(m);
            case Event.ProposalFailed f -> proposalFailed(f);
            case Event.BarrierDone b -> barrierDone(b);
            case Event.Task t -> t.task().run();
            case Event.Stop s -> {
              failAll(Error.Code.UNAVAILABLE, "node " + config.nodeId() + " is shutting down");
              failCommands(writes, reads);
              return;
            }
          }
        }
        batch.clear();
        takeDueRetries(writes, reads);
        flushWrites(writes);
        flushReads(reads);
        expire();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (RuntimeException | java.lang.Error e) {
      LOG.error("database loop died: {}; the node can no longer serve, restart it", e.toString(), e);
      throw e;
    }
  }

  private void handleCommand(Event.Command c, List<Event.Command> writes, List<Event.Command> reads) {
    var r = c.request();
    if (!accepting) {
      c.replier().reply(error(r.getId(), Error.Code.UNAVAILABLE, "node " + config.nodeId() + " is shutting down; "
          + "use another node", ""));
      return;
    }
    switch (r.getCommandCase()) {
      case PUT, DELETE, TXN -> writes.add(c);
      case GET -> {
        if (r.getGet().getConsistency() == dev.kvraft.proto.Consistency.STALE) {
          c.replier().reply(answerRead(r));
        } else {
          reads.add(c);
        }
      }
      case SCAN -> {
        if (r.getScan().getConsistency() == dev.kvraft.proto.Consistency.STALE) {
          c.replier().reply(answerRead(r));
        } else {
          reads.add(c);
        }
      }
      case STATUS -> c.replier().reply(respond(r.getId()).setStatus(status()).build());
      case MEMBERS -> c.replier().reply(respond(r.getId()).setMembers(members()).build());
      case COMMAND_NOT_SET -> c.replier().reply(
          error(r.getId(), Error.Code.INVALID_ARGUMENT, "request " + r.getId() + " names no command", ""));
    }
  }

  private void flushWrites(List<Event.Command> writes) {
    if (writes.isEmpty()) {
      return;
    }
    var raft = consensus.get();
    if (raft == null) {
      writes.forEach(c -> c.replier().reply(error(c.request().getId(), Error.Code.UNAVAILABLE,
          "node " + config.nodeId() + " is still starting", "")));
      writes.clear();
      return;
    }
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
    writes.clear();
  }

  /** Packs client writes into one log entry and proposes it. */
  private void propose(Consensus raft, List<Event.Command> batch) {
    var commands = List.copyOf(batch);
    long callId = nextCallId++;
    var entry = LogEntry.newBuilder().setProposer(proposer).setProposalId(callId);
    long deadline = Long.MAX_VALUE;
    for (var c : commands) {
      var r = c.request();
      var op = WriteOp.newBuilder();
      switch (r.getCommandCase()) {
        case PUT -> op.setPut(r.getPut());
        case DELETE -> op.setDelete(r.getDelete());
        case TXN -> op.setTxn(r.getTxn());
        default -> throw new IllegalStateException("not a write: " + r.getCommandCase());
      }
      entry.addOps(op);
      deadline = Math.min(deadline, c.deadline());
    }
    pendingWrites.put(callId, new Pending(commands, deadline));
    raft.propose(callId, entry.build().toByteString()).whenComplete((ok, err) -> {
      if (err != null) {
        inbox.add(new Event.ProposalFailed(callId, err));
      }
    });
  }

  private void flushReads(List<Event.Command> reads) {
    if (reads.isEmpty()) {
      return;
    }
    var commands = List.copyOf(reads);
    reads.clear();
    var raft = consensus.get();
    if (raft == null) {
      commands.forEach(c -> c.replier().reply(error(c.request().getId(), Error.Code.UNAVAILABLE,
          "node " + config.nodeId() + " is still starting", "")));
      return;
    }
    long callId = nextCallId++;
    long deadline = commands.stream().mapToLong(Event.Command::deadline).min().orElseThrow();
    pendingReads.put(callId, new Pending(commands, deadline));
    raft.readBarrier(callId).whenComplete((ok, err) -> inbox.add(new Event.BarrierDone(callId, err)));
  }

  private void apply(Event.Applied a) {
    LogEntry entry;
    try {
      entry = LogEntry.parseFrom(a.payload());
    } catch (InvalidProtocolBufferException e) {
      // Every node would fail the same way: refusing to go on is the only safe answer.
      a.done().completeExceptionally(e);
      throw new IllegalStateException("log entry " + a.index() + " does not parse as a kvraft LogEntry: " + e, e);
    }
    Pending pending = entry.getProposer().equals(proposer) ? pendingWrites.remove(entry.getProposalId()) : null;
    if (entry.getProposer().equals(proposer)) {
      var raft = consensus.get();
      if (raft != null) {
        raft.forget(entry.getProposalId());
      }
    }
    var listener = observer.beginEntry(a.term(), a.index(), "normal", entry.getProposer(), entry.getOpsCount(),
        Summaries.of(entry), a.payload());
    for (int i = 0; i < entry.getOpsCount(); i++) {
      var response = state.apply(entry.getOps(i), listener);
      if (pending != null && i < pending.commands().size()) {
        var c = pending.commands().get(i);
        c.replier().reply(response.setId(c.request().getId()).setHeader(header()).build());
      }
    }
    observer.endEntry(a.index());
    advance(a.term(), a.index());
    a.done().complete(null);
  }

  private void applyMeta(Event.MetaApplied m) {
    observer.beginEntry(m.term(), m.index(), m.kind(), "", 0, m.summary(), ByteString.EMPTY);
    observer.endEntry(m.index());
    advance(m.term(), m.index());
    m.done().complete(null);
  }

  private void advance(long term, long index) {
    appliedTerm = term;
    appliedIndex = index;
    appliedIndexView = index;
    revisionView = state.revision();
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
      failOrRetry(pending, failure(f.cause()));
    }
  }

  private void barrierDone(Event.BarrierDone b) {
    var pending = pendingReads.remove(b.callId());
    if (pending == null) {
      return;
    }
    if (b.cause() != null) {
      failOrRetry(pending, failure(b.cause()));
      return;
    }
    pending.commands().forEach(c -> c.replier().reply(answerRead(c.request())));
  }

  /**
   * Raft refused the batch without applying it. UNAVAILABLE (no leader yet, leader not ready) is retried shortly
   * until the commands' deadline, as etcd does; anything else is answered now.
   */
  private void failOrRetry(Pending pending, ConsensusException err) {
    if (err.code() == Error.Code.UNAVAILABLE && accepting
        && pending.deadline() - System.nanoTime() > RETRY_NANOS) {
      retries.add(new Retry(pending.commands(), System.nanoTime() + RETRY_NANOS));
      return;
    }
    pending.commands().forEach(c -> c.replier().reply(
        error(c.request().getId(), err.code(), err.getMessage(), leaderAddress(err.leaderId()))));
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

  private void expire() {
    long now = System.nanoTime();
    expire(pendingWrites, now, "write", "it may or may not have been applied; read the key to find out");
    expire(pendingReads, now, "read", "no quorum confirmed this node's state in time");
  }

  private void expire(Map<Long, Pending> table, long now, String what, String detail) {
    if (table.isEmpty()) {
      return;
    }
    for (var it = table.entrySet().iterator(); it.hasNext(); ) {
      var e = it.next();
      if (e.getValue().deadline() - now <= 0) {
        it.remove();
        var raft = consensus.get();
        if (raft != null) {
          raft.forget(e.getKey());
        }
        var info = raft == null ? Consensus.Info.UNKNOWN : raft.info();
        var code = info.leaderId().isEmpty() ? Error.Code.UNAVAILABLE : Error.Code.TIMEOUT;
        var message = (info.leaderId().isEmpty()
            ? "no leader within " + config.requestTimeout().toMillis() + " ms (is a quorum of nodes up?); "
            : what + " timed out after " + config.requestTimeout().toMillis() + " ms; ") + detail;
        if (what.equals("write") && code == Error.Code.UNAVAILABLE) {
          // A write that timed out may still commit later: say so whatever the reason.
          code = Error.Code.TIMEOUT;
        }
        for (var c : e.getValue().commands()) {
          c.replier().reply(error(c.request().getId(), code, message, ""));
        }
      }
    }
  }

  /** Fails everything pending; a proposed write may still commit, so it gets TIMEOUT (outcome unknown). */
  private void failAll(Error.Code code, String message) {
    for (var p : pendingWrites.values()) {
      p.commands().forEach(c -> c.replier().reply(error(c.request().getId(), Error.Code.TIMEOUT,
          message + "; the write may or may not have been applied", "")));
    }
    pendingWrites.clear();
    for (var p : pendingReads.values()) {
      p.commands().forEach(c -> c.replier().reply(error(c.request().getId(), code, message, "")));
    }
    pendingReads.clear();
    for (var r : retries) {
      r.commands().forEach(c -> c.replier().reply(error(c.request().getId(), code, message, "")));
    }
    retries.clear();
  }

  private void failCommands(List<Event.Command> writes, List<Event.Command> reads) {
    for (var list : List.of(writes, reads)) {
      list.forEach(c -> c.replier().reply(error(c.request().getId(), Error.Code.UNAVAILABLE,
          "node " + config.nodeId() + " is shutting down", "")));
      list.clear();
    }
    for (Event e; (e = inbox.poll()) != null; ) {
      switch (e) {
        case Event.Command c -> {
          clientSlots.release();
          c.replier().reply(error(c.request().getId(), Error.Code.UNAVAILABLE,
              "node " + config.nodeId() + " is shutting down", ""));
        }
        case Event.Applied a -> a.done().completeExceptionally(new IllegalStateException("database loop stopped"));
        case Event.MetaApplied m -> m.done().completeExceptionally(new IllegalStateException("database loop stopped"));
        default -> { }
      }
    }
  }

  // ---- answers --------------------------------------------------------------------------------

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
      default -> throw new IllegalStateException("not a read: " + r.getCommandCase());
    }
    return response.build();
  }

  private Response.Builder respond(long id) {
    return Response.newBuilder().setId(id).setHeader(header());
  }

  private Header header() {
    var raft = consensus.get();
    long term = raft == null ? 0 : raft.info().term();
    return Header.newBuilder().setRevision(state.revision()).setNodeId(config.nodeId()).setTerm(term).build();
  }

  private StatusResult status() {
    var raft = consensus.get();
    var info = raft == null ? Consensus.Info.UNKNOWN : raft.info();
    return StatusResult.newBuilder()
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

  private static ConsensusException failure(Throwable t) {
    while (t instanceof java.util.concurrent.CompletionException && t.getCause() != null) {
      t = t.getCause();
    }
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

  /** For tests and Status: the number of pending writes and reads. Loop thread only. */
  Map<String, Integer> pendingCounts() {
    var m = new HashMap<String, Integer>();
    m.put("writes", pendingWrites.size());
    m.put("reads", pendingReads.size());
    return m;
  }
}
