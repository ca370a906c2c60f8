package dev.kvraft.server.db;

import dev.kvraft.proto.Error;
import dev.kvraft.proto.GetResult;
import dev.kvraft.proto.ReadIndex;
import dev.kvraft.proto.ReadIndexResult;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import dev.kvraft.server.config.ServerConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * Linearizable reads, and backups (which copy the state at the same kind of point). On the leader, reads share one read
 * barrier, at most one in flight: the reads that arrive while it is under way wait in {@link PendingRequests} (where
 * they expire by their deadlines like any other) and go together with the next one, sent in the turn its completion
 * arrives (as etcd's leader keeps one read-index round at a time); each is answered when its barrier's completion
 * event arrives. On a follower, they share one {@code ReadIndex} call to the leader and are answered from this node's
 * own state once it has applied up to the index the leader returned. STALE reads never come here: the loop answers
 * them at once with {@link #answer}.
 *
 * <p>Why a barrier's completion is enough on the leader: Raft signals it only after its applied index reached the
 * barrier's entry (or, on a group's only voter, its read index), and the state machine hands every entry to the
 * loop's queue before Raft counts it as applied; so by the time the loop sees the completion it has applied every
 * entry committed before the barrier began.
 *
 * <p>Loop thread only.
 */
final class ReadPath {
  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(ReadPath.class);
  /** A read index nobody vouched for: a follower's {@code ReadIndex} is then answered with what this node applied. */
  static final long UNKNOWN_READ_INDEX = -1;
  private final ServerConfig config;
  private final KvState state;
  private final Applier applier;
  private final PendingRequests pending;
  private final Replies replies;
  private final Retries retries;
  private final CallIds ids;
  private final Consumer<Event> events;
  private final java.util.function.Supplier<Consensus> consensus;
  /** Starts a Backup command whose barrier passed (it copies the state, then answers from another thread). */
  private final Consumer<Event.Command> backup;
  private final dev.kvraft.server.auth.AuthState auth;
  private final Alarms alarms;
  /** Set before the loop starts. */
  private Leases leases;
  /** The leader the last read-index request went to: named to the client when the leader refuses this node. */
  private String readIndexFrom = "";
  private AuthLayer authLayer;

  ReadPath(ServerConfig config, KvState state, Applier applier, PendingRequests pending, Replies replies,
      Retries retries, CallIds ids, Consumer<Event> events, java.util.function.Supplier<Consensus> consensus,
      Consumer<Event.Command> backup, dev.kvraft.server.auth.AuthState auth, Alarms alarms) {
    this.config = config;
    this.alarms = alarms;
    this.auth = auth;
    this.backup = backup;
    this.consensus = consensus;
    this.state = state;
    this.applier = applier;
    this.pending = pending;
    this.replies = replies;
    this.retries = retries;
    this.ids = ids;
    this.events = events;
  }

  /**
   * Sends this turn's linearizable reads on their way, after any held for the next barrier; on the leader while a
   * barrier is in flight, holds them for the next one instead (the loop calls this again in the turn the barrier's
   * completion arrives, as it does while reads are held). One barrier at a time confirms as many reads as one per
   * turn, a round later at most; with 1,000 clients it wrote three to ten times fewer empty entries on every node,
   * for about 14% more linearizable gets/s (BENCHMARKS.md).
   */
  void flush(List<Event.Command> reads, Route route, Forwarder forwarder) {
    if (route instanceof Route.Local && pending.barrierInFlight()) {
      if (!reads.isEmpty()) {
        pending.holdForBarrier(reads);
        reads.clear();
      }
      return;
    }
    var held = pending.takeHeldReads();
    if (reads.isEmpty() && held.isEmpty()) {
      return;
    }
    var commands = new ArrayList<Event.Command>(held.size() + reads.size());
    commands.addAll(held);
    commands.addAll(reads);
    reads.clear();
    switch (route) {
      case Route.Local local -> {
        long callId = ids.next();
        pending.barrierSent(callId, Pending.of(commands));
        local.raft().readBarrier(callId).whenComplete((index, err) ->
            events.accept(new Event.BarrierDone(callId, index == null ? UNKNOWN_READ_INDEX : index, err)));
      }
      case Route.Leader leader -> {
        var mine = new ArrayList<Event.Command>();
        for (var c : commands) {
          if (c.request().getForwarded() || c.request().hasReadIndex()) {
            WritePath.notLeader(replies, config, c, leader.address());
          } else {
            mine.add(c);
          }
        }
        if (mine.isEmpty()) {
          return;
        }
        long fwdId = ids.next();
        readIndexFrom = leader.address();
        var call = Pending.of(mine);
        pending.readIndexSent(fwdId, call);
        var readIndex = Request.newBuilder().setId(fwdId).setForwarded(true)
            .setReadIndex(ReadIndex.getDefaultInstance()).build();
        if (!forwarder.send(leader.address(), List.of(new Forwarder.Forward(readIndex, call.deadline())))) {
          pending.readIndexDone(fwdId);
          mine.forEach(c -> replies.error(c, Error.Code.OVERLOADED, WritePath.linkFull(config, leader.address()),
              leader.address()));
        }
      }
      case Route.NoLeader none -> retries.retryOrFail(commands, Error.Code.UNAVAILABLE, none.why(), "");
      case Route.NotMember not -> not.refuse(replies, commands);
    }
  }

  void barrierDone(Event.BarrierDone b) {
    var reads = pending.barrierDone(b.callId());
    if (reads == null) {
      return;
    }
    if (b.cause() != null) {
      var err = Failures.consensus(b.cause());
      // A barrier is an empty entry (raft.ReadBarriers), refused OVERLOADED when Ratis's pending writes are at their
      // limit: others' writes, which will commit and make room. The reads are retried like any read that found no
      // leader, not answered OVERLOADED for load they did not make.
      boolean writesFull = err.code() == Error.Code.OVERLOADED;
      retries.retryOrFail(reads.commands(), writesFull ? Error.Code.UNAVAILABLE : err.code(), writesFull
          ? "node " + config.nodeId() + " could not confirm its leadership for this read: its Raft write queue was"
              + " full until the read's deadline; retry" : err.getMessage(),
          Route.clientAddress(config, consensus.get(), err.leaderId()));
      return;
    }
    if (applier.appliedTerm() < replies.term()) {
      // A new leader knows the whole committed log only once an entry of its own term is committed. Ratis checks
      // that before granting a read index, except in a one-node group, whose read index is its commit index as
      // recovered from disk: answer only after applying an entry of this term, as etcd's leader does.
      retries.retryOrFail(reads.commands(), Error.Code.UNAVAILABLE, "node " + config.nodeId() + " became leader in"
          + " term " + replies.term() + " and has not yet applied an entry of that term; try again shortly", "");
      return;
    }
    answerAll(reads, b.readIndex(), "");
  }

  /** The leader answered a read-index call (forwarded reads). */
  void readIndexReplied(Pending reads, Response r) {
    if (r.hasError() && r.getError().getNotMember()) {
      retries.notMember(reads.commands(), config.nodeId(), readIndexFrom, r.getError());
    } else if (r.hasError()) {
      retries.retryOrFail(reads.commands(), r.getError().getCode(), r.getError().getMessage(),
          r.getError().getLeaderAddress());
    } else {
      pending.awaitApplied(r.getReadIndex().getIndex(), reads);
    }
  }

  /**
   * Answers the follower reads whose read index this node has now applied, naming in each answer's header the leader
   * as this node knows it now (none when it leads or knows none), so that a client can send its next linearizable
   * reads there.
   */
  void answerApplied() {
    var ready = pending.appliedUpTo(applier.appliedIndex());
    if (ready.isEmpty()) {
      return;
    }
    var raft = consensus.get();
    var leader = raft == null || raft.isLeader() ? "" : Route.clientAddress(config, raft, raft.info().leaderId());
    for (var p : ready) {
      answerAll(p, UNKNOWN_READ_INDEX, leader);
    }
  }

  /**
   * Answers reads whose barrier passed (or, on a follower, whose read index this node applied). A follower's
   * {@code ReadIndex} gets {@code readIndex}, the commit index as the barrier began, or what this node has applied when
   * that is {@link #UNKNOWN_READ_INDEX}. {@code leaderAddress}, when not empty, goes in each answer's header.
   */
  private void answerAll(Pending reads, long readIndex, String leaderAddress) {
    long now = System.nanoTime();
    for (var c : reads.commands()) {
      c.trace().raftDone(now);
      // Checked again now, as etcd checks a range after its read wait: a revoke (or a user deleted) that applied
      // while the read waited for its barrier is in force for it. The check when it arrived only fails it fast.
      var refused = authLayer.refusal(c.request());
      if (refused.isPresent()) {
        replies.error(c, refused.get().getCode(), refused.get().getMessage(), "");
        continue;
      }
      if (c.request().hasBackup()) {
        backup.accept(c);
        continue;
      }
      replies.reply(c, answer(c.request(), readIndex, leaderAddress));
    }
  }

  void leases(Leases l, AuthLayer a) {
    this.leases = l;
    this.authLayer = a;
  }

  /**
   * A read answered from this node's state as it is now. A bug answering one request is that request's INTERNAL
   * error, never the loop's death (a read changes nothing, so nothing is left half done).
   */
  Response answer(Request r) {
    return answer(r, UNKNOWN_READ_INDEX, "");
  }

  private Response answer(Request r, long readIndex, String leaderAddress) {
    try {
      return answerOrThrow(r, readIndex, leaderAddress);
    } catch (RuntimeException e) {
      LOG.error("answering {} request {} failed: {}; answered INTERNAL, the node serves on (a bug: please report"
          + " it)", r.getCommandCase(), r.getId(), e.toString(), e);
      return Replies.error(r.getId(), dev.kvraft.proto.Error.Code.INTERNAL, "node could not answer "
          + r.getCommandCase() + ": " + e, "");
    }
  }

  private Response answerOrThrow(Request r, long readIndex, String leaderAddress) {
    var response = replies.respond(r.getId());
    if (!leaderAddress.isEmpty()) {
      response.getHeaderBuilder().setLeaderAddress(leaderAddress);
    }
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
      case AUTH_READ -> response.setAuthRead(auth.read());
      case LEASE_TIME_TO_LIVE -> {
        // The keys listed are the lease's now: checked again here (after a barrier, answerAll did already).
        var refused = authLayer.refusal(r);
        if (refused.isPresent()) {
          return Replies.error(r.getId(), refused.get().getCode(), refused.get().getMessage(), "");
        }
        var ttl = leases.timeToLive(r.getLeaseTimeToLive().getId(), r.getLeaseTimeToLive().getKeys());
        if (ttl == null) {
          return Replies.error(r.getId(), dev.kvraft.proto.Error.Code.LEASE_NOT_FOUND, "lease "
              + r.getLeaseTimeToLive().getId() + " does not exist (expired, revoked, or never granted)", "");
        }
        response.setLeaseTimeToLive(ttl);
      }
      case LEASE_LIST -> response.setLeaseList(leases.list());
      case ALARM -> response.setAlarm(alarms.list());
      case READ_INDEX -> response.setReadIndex(ReadIndexResult.newBuilder()
          .setIndex(readIndex != UNKNOWN_READ_INDEX ? readIndex : Math.max(0, applier.appliedIndex())));
      default -> throw new IllegalStateException("not a read: " + r.getCommandCase());
    }
    return response.build();
  }
}
