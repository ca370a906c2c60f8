package dev.kvraft.server.db;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import dev.kvraft.proto.Delete;
import dev.kvraft.proto.Error;
import dev.kvraft.proto.LeaseCheckpoint;
import dev.kvraft.proto.LeaseGrant;
import dev.kvraft.proto.LeaseGrantResult;
import dev.kvraft.proto.LeaseKeepAliveResult;
import dev.kvraft.proto.LeaseListResult;
import dev.kvraft.proto.LeaseRemaining;
import dev.kvraft.proto.LeaseRevoke;
import dev.kvraft.proto.LeaseRevokeResult;
import dev.kvraft.proto.LeaseTimeToLiveResult;
import dev.kvraft.proto.Op;
import dev.kvraft.proto.Put;
import dev.kvraft.proto.Response;
import dev.kvraft.proto.Txn;
import dev.kvraft.proto.WriteOp;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Leases, like etcd's, as a layer of the apply step. Replicated, identical on every node: which leases exist, their
 * TTLs, which keys each holds, and the next lease id. A grant, a revoke and a checkpoint are log entries; a revoke
 * deletes the lease's keys as one transaction (one revision), through the layers inside this one, so watches see the
 * deletes.
 *
 * <p>Time is each node's own: a lease's deadline is a reading of its {@code clock} ({@link System#nanoTime()}; a test's
 * own in tests) set when its grant (or a checkpoint) is applied here. Only the leader acts on it ({@link #tick}): it
 * proposes the revoke of an expired lease, and it gathers keep-alives for {@value #CHECKPOINT_MILLIS} ms and writes
 * them into the log as one entry, a {@code LeaseCheckpoint} per keep-alive; each keep-alive is answered when its
 * checkpoint is applied. So the log gets at most ten entries a second however many leases are renewed (etcd's reason
 * not to replicate keep-alives: they would flood the log), and every renewal a client was told of is known to every
 * node: after a leader change a lease keeps the time it had left and never expires early. etcd resets every lease to
 * its full TTL instead.
 *
 * <p>Loop thread only, with one owner per piece of state: this class owns the replicated leases and the leader's
 * checkpoint timer; the keep-alives the leader holds for its next checkpoint are in {@link PendingRequests}, with
 * every other command waiting, so deadline expiry and shutdown answer them like the rest (and {@code awaitIdle}
 * waits for them). Every held keep-alive is answered: by its checkpoint's apply, LEASE_NOT_FOUND when its lease is
 * gone by checkpoint time, UNAVAILABLE when leadership is lost, TIMEOUT at its deadline.
 */
final class Leases implements SystemState {
  private static final Logger LOG = LoggerFactory.getLogger(Leases.class);
  static final String SNAPSHOT_PREFIX = "lease.";
  private static final String NEXT_ID = "lease.next";
  static final long CHECKPOINT_MILLIS = 100;
  static final long CHECKPOINT_NANOS = TimeUnit.MILLISECONDS.toNanos(CHECKPOINT_MILLIS);
  /**
   * The longest TTL, and time left, a lease can have: the client port's bound (RequestValidator), enforced again
   * when an entry applies, so that one that did not pass it (a TTL of 2^62 seconds) cannot overflow a deadline and
   * disorder {@link #expiries}.
   */
  private static final long MAX_TTL_MS = 1_000_000_000L * 1000;

  /** One lease: replicated id, TTL and keys; this node's deadline. */
  static final class Lease {
    final long id;
    final long ttlMs;
    final TreeSet<ByteString> keys = new TreeSet<>(KvState.KEY_ORDER);
    long deadline;
    long revokeProposed;
    /**
     * When the leader looks at this lease next ({@link LeaseExpiries}' order): its deadline, or once an expiry was
     * proposed and not yet applied, no sooner than the time to propose it again. Changed only by
     * {@link LeaseExpiries}, while the lease is out of its order.
     */
    long due;

    Lease(long id, long ttlMs, long deadline) {
      this.id = id;
      this.ttlMs = ttlMs;
      this.deadline = deadline;
      this.due = deadline;
    }
  }

  private final KvState state;
  private final long minTtlSeconds;
  private final TreeMap<Long, Lease> leases = new TreeMap<>();
  /** Every lease of {@link #leases}, in the order the leader must look at them: the tick reads only those due. */
  private final LeaseExpiries expiries = new LeaseExpiries();
  private final HashMap<ByteString, Long> leaseOfKey = new HashMap<>();
  private long nextId = 1;
  /** Where the leader holds keep-alives until the next checkpoint entry (owned by the loop, shared with its parts). */
  private final PendingRequests pending;
  /** Proposes a checkpoint entry whose ops answer the given commands (the write path's group commit). */
  private final Proposer proposer;

  /** Proposes {@code ops} as one entry; op i's answer goes to {@code commands.get(i)}. */
  @FunctionalInterface
  interface Proposer {
    void propose(List<Event.Command> commands, List<WriteOp> ops);
  }
  /** Nanoseconds, as {@link System#nanoTime()}: every deadline and the checkpoint timer read it. */
  private final java.util.function.LongSupplier clock;
  private long nextCheckpoint;
  /**
   * The term in which this node leads and has applied an entry of its own (so every renewal acknowledged before, by
   * it or an earlier leader, is applied here): 0 otherwise. Only then does it expire leases or renew them.
   */
  private long leadingTerm;

  Leases(KvState state, java.time.Duration electionTimeoutMax, PendingRequests pending, Proposer proposer,
      java.util.function.LongSupplier clock) {
    this.state = state;
    this.clock = clock;
    this.nextCheckpoint = clock.getAsLong();
    this.pending = pending;
    this.proposer = proposer;
    this.minTtlSeconds = Math.max(1, (long) Math.ceil(electionTimeoutMax.toMillis() * 1.5 / 1000));
  }

  /** The shortest TTL granted: enough to survive a leader change. */
  long minTtlSeconds() {
    return minTtlSeconds;
  }

  // ---- the apply layer ----

  OpApplier around(OpApplier next) {
    return (op, listener) -> switch (op.getOpCase()) {
      case LEASE_GRANT -> grant(op.getLeaseGrant());
      case LEASE_REVOKE -> revoke(op.getLeaseRevoke(), op.getUser(), next, listener);
      case LEASE_CHECKPOINT -> checkpoint(op.getLeaseCheckpoint());
      case PUT, TXN, DELETE -> keys(op, next, listener);
      default -> next.apply(op, listener);
    };
  }

  private Response.Builder grant(LeaseGrant g) {
    long id = g.getId() != 0 ? g.getId() : freeId();
    if (leases.containsKey(id)) {
      return Response.newBuilder().setError(Error.newBuilder().setCode(Error.Code.CONFLICT)
          .setMessage("lease " + id + " already exists"));
    }
    long ttlMs = Math.min(Math.max(1, g.getTtlSeconds()), MAX_TTL_MS / 1000) * 1000;
    var lease = new Lease(id, ttlMs, clock.getAsLong() + TimeUnit.MILLISECONDS.toNanos(ttlMs));
    leases.put(id, lease);
    expiries.add(lease);
    if (id > 0 && id < Long.MAX_VALUE) {
      nextId = Math.max(nextId, id + 1);
    }
    return Response.newBuilder().setLeaseGrant(LeaseGrantResult.newBuilder().setId(id)
        .setTtlSeconds(ttlMs / 1000));
  }

  /**
   * The id a grant that names none gets: {@link #nextId} (one above every id granted so far), unless a client took
   * the highest id there is; then the lowest free positive one. Deterministic: every node picks the same.
   */
  private long freeId() {
    if (nextId > 0 && !leases.containsKey(nextId)) {
      return nextId;
    }
    long candidate = 1;
    for (long taken : leases.keySet()) {
      if (taken > candidate) {
        break;
      }
      if (taken == candidate) {
        candidate++;
      }
    }
    return candidate;
  }

  private Response.Builder revoke(LeaseRevoke r, String user, OpApplier next, KvState.OpListener listener) {
    var lease = leases.get(r.getId());
    if (lease == null) {
      return notFound(r.getId());
    }
    long deleted = 0;
    if (!lease.keys.isEmpty()) {
      // Every key of the lease in one revision: a transaction of deletes, through the inner layers (watches).
      var txn = Txn.newBuilder();
      for (var key : lease.keys) {
        txn.addSuccess(Op.newBuilder().setDelete(Delete.newBuilder().setKey(key)));
      }
      var response = next.apply(WriteOp.newBuilder().setTxn(txn).setUser(user).build(), listener);
      deleted = response.hasTxn() ? response.getTxn().getResultsList().stream()
          .mapToLong(o -> o.getDelete().getDeleted()).sum() : 0;
    }
    for (var key : lease.keys) {
      leaseOfKey.remove(key);
    }
    expiries.remove(leases.remove(r.getId()));
    if (r.getExpired()) {
      LOG.debug("lease {} expired: {} keys deleted", r.getId(), deleted);
    }
    return Response.newBuilder().setLeaseRevoke(LeaseRevokeResult.newBuilder().setDeleted(deleted));
  }

  /** A keep-alive's checkpoint: the lease runs its time from here, on every node; the answer to the keep-alive. */
  private Response.Builder checkpoint(LeaseCheckpoint c) {
    long now = clock.getAsLong();
    var response = Response.newBuilder();
    for (var l : c.getLeasesList()) {
      var lease = leases.get(l.getId());
      if (lease == null) {
        return notFound(l.getId());
      }
      lease.deadline = Math.max(lease.deadline, now + TimeUnit.MILLISECONDS.toNanos(within(l.getRemainingMs())));
      expiries.reschedule(lease);
      response.setLeaseKeepAlive(LeaseKeepAliveResult.newBuilder().setId(l.getId())
          .setTtlSeconds(lease.ttlMs / 1000));
    }
    return response;
  }

  /**
   * Puts attach their key to their lease (or detach it: a put without one), deletes detach. A put naming a lease
   * that does not exist changes nothing and is answered LEASE_NOT_FOUND.
   */
  private Response.Builder keys(WriteOp op, OpApplier next, KvState.OpListener listener) {
    if (leaseOfKey.isEmpty() && !namesLease(op) || KvState.malformed(op) != null) {
      // No key has a lease and none is asked for: nothing to attach or detach. Or the map will refuse the op (an
      // entry that did not come through RequestValidator: a txn compare with an unknown target), before any
      // compare is evaluated here, where it would throw.
      return next.apply(op, listener);
    }
    var puts = new ArrayDeque<Put>();
    switch (op.getOpCase()) {
      case PUT -> puts.add(op.getPut());
      case TXN -> {
        // The branch that will run: the compares are evaluated again by the map, against the same state.
        boolean ok = op.getTxn().getCompareList().stream().allMatch(state::holds);
        for (var o : ok ? op.getTxn().getSuccessList() : op.getTxn().getFailureList()) {
          if (o.hasPut()) {
            puts.add(o.getPut());
          }
        }
      }
      default -> { }
    }
    for (var p : puts) {
      if (p.getLease() != 0 && !leases.containsKey(p.getLease())) {
        return notFound(p.getLease());
      }
    }
    return next.apply(op, new KvState.OpListener() {
      @Override
      public void applied(dev.kvraft.storage.OpKind kind, ByteString key, ByteString value, long revision,
          dev.kvraft.storage.OpOutcome result) {
        listener.applied(kind, key, value, revision, result);
      }

      @Override
      public void changed(KvState.Entry prev, KvState.Entry now, long revision) {
        listener.changed(prev, now, revision);
        if (now == null) {
          detach(UnsafeByteOperations.unsafeWrap(prev.key()));
        } else {
          // Each put changes its key once, in order: this is the next put of the branch.
          var put = puts.poll();
          var key = UnsafeByteOperations.unsafeWrap(now.key());
          detach(key);
          if (put != null && put.getLease() != 0) {
            leases.get(put.getLease()).keys.add(key);
            leaseOfKey.put(key, put.getLease());
          }
        }
      }
    });
  }

  private static boolean namesLease(WriteOp op) {
    return switch (op.getOpCase()) {
      case PUT -> op.getPut().getLease() != 0;
      case TXN -> op.getTxn().getSuccessList().stream().anyMatch(o -> o.hasPut() && o.getPut().getLease() != 0)
          || op.getTxn().getFailureList().stream().anyMatch(o -> o.hasPut() && o.getPut().getLease() != 0);
      default -> false;
    };
  }

  private void detach(ByteString key) {
    var id = leaseOfKey.remove(key);
    if (id != null) {
      var lease = leases.get(id);
      if (lease != null) {
        lease.keys.remove(key);
      }
    }
  }

  private static Response.Builder notFound(long id) {
    return Response.newBuilder().setError(Error.newBuilder().setCode(Error.Code.LEASE_NOT_FOUND)
        .setMessage("lease " + id + " does not exist (expired, revoked, or never granted)"));
  }

  /** The answer to a keep-alive whose lease does not exist here, given at once. */
  private static Response notFound(Event.Command c, Replies replies) {
    return notFound(c.request().getLeaseKeepAlive().getId()).setId(c.request().getId()).setHeader(replies.header())
        .build();
  }

  // ---- the leader's side ----

  /**
   * Whether this node leads in {@code term} and has applied an entry of it, its leases' deadlines taken over by
   * {@link #tick}: only then may a keep-alive be looked up here. Before, the lease may be granted or renewed in
   * entries not yet applied, and answering {@code LEASE_NOT_FOUND} would tell its holder it was lost.
   */
  boolean leads(long term) {
    return term != 0 && leadingTerm == term;
  }

  /**
   * A keep-alive reached the leader ({@link #leads}): the lease runs its full TTL from now here at once, and the
   * renewal is held (in {@link PendingRequests}) for the next checkpoint entry, whose apply answers it. Null when it
   * is held; the answer when it is answered at once (no such lease).
   */
  Response keepAlive(Event.Command c, Replies replies) {
    assert leadingTerm != 0 : "keep-alive taken before this leader applied an entry of its term";
    var lease = leases.get(c.request().getLeaseKeepAlive().getId());
    long now = clock.getAsLong();
    if (lease == null || lease.revokeProposed != 0 || lease.deadline - now <= 0) {
      // Gone, or expired and its revoke not proposed yet (expiries wait their turn): not renewed, as etcd answers.
      return notFound(c, replies);
    }
    lease.deadline = Math.max(lease.deadline, now + TimeUnit.MILLISECONDS.toNanos(lease.ttlMs));
    expiries.reschedule(lease);
    pending.holdKeepAlive(c);
    return null;
  }

  /** {@code ms} within 0 .. {@link #MAX_TTL_MS}. */
  private static long within(long ms) {
    return Math.min(Math.max(0, ms), MAX_TTL_MS);
  }


  /**
   * Each loop turn: on the leader, expire leases and checkpoint the keep-alives held, through the log. Keep-alives
   * still held when leadership is lost are answered UNAVAILABLE (nothing was renewed; the client retries); one whose
   * lease is gone by checkpoint time (revoked meanwhile) is answered LEASE_NOT_FOUND at once, as it would have been
   * had it come after the revoke. The checkpoint runs whether or not any lease is left.
   */
  void tick(Consensus raft, CallIds ids, String proposer, Replies replies, long appliedTerm) {
    long term = raft.term();
    // A new leader applies the entries its predecessor committed only once an entry of its own term commits: until
    // then the last renewals acknowledged may be in its log but not yet applied, and it neither expires nor renews.
    boolean leader = raft.isLeader() && appliedTerm >= term;
    long now = clock.getAsLong();
    if (leader && leadingTerm != term) {
      // Every renewal a client was told of is in the log this node applied. Renewals sent during the election got
      // no answer yet and are retried by their clients: a grace of one checkpoint interval for them.
      for (var lease : leases.values()) {
        lease.deadline = Math.max(lease.deadline, now + CHECKPOINT_NANOS);
      }
      expiries.reset(leases.values());
    }
    leadingTerm = leader ? term : 0;
    if (!leader) {
      for (var c : pending.takeHeldKeepAlives()) {
        replies.error(c, Error.Code.UNAVAILABLE, "this node lost the leadership before it renewed the lease;"
            + " retry", "");
      }
      return;
    }
    var expired = new ArrayList<WriteOp>();
    for (var lease : expiries.takeDue(now)) {
      expired.add(WriteOp.newBuilder().setLeaseRevoke(LeaseRevoke.newBuilder().setId(lease.id).setExpired(true))
          .setUser(AuthLayer.SYSTEM).build());
    }
    if (!expired.isEmpty()) {
      OwnProposals.propose(raft, ids, proposer, expired, expired.size() + " lease expiries");
    }
    if (now - nextCheckpoint >= 0 && pending.keepAlivesHeld()) {
      proposeCheckpoint(pending.takeHeldKeepAlives(), now, replies);
    }
  }

  /**
   * Proposes one entry with an op per held keep-alive, each answered by its own op's apply; a keep-alive whose lease
   * is gone is answered LEASE_NOT_FOUND now instead.
   */
  private void proposeCheckpoint(List<Event.Command> held, long now, Replies replies) {
    var commands = new ArrayList<Event.Command>(held.size());
    var ops = new ArrayList<WriteOp>(held.size());
    for (var c : held) {
      var lease = leases.get(c.request().getLeaseKeepAlive().getId());
      if (lease == null) {
        replies.reply(c, notFound(c, replies));
        continue;
      }
      commands.add(c);
      ops.add(WriteOp.newBuilder().setLeaseCheckpoint(LeaseCheckpoint.newBuilder().addLeases(
          LeaseRemaining.newBuilder().setId(lease.id).setRemainingMs(lease.ttlMs)))
          .setUser(AuthLayer.SYSTEM).build());
    }
    if (!ops.isEmpty()) {
      nextCheckpoint = now + CHECKPOINT_NANOS;
      proposer.propose(commands, ops);
    }
  }

  // ---- reads ----

  LeaseTimeToLiveResult timeToLive(long id, boolean withKeys) {
    var lease = leases.get(id);
    if (lease == null) {
      return null;
    }
    long left = Math.max(0, lease.deadline - clock.getAsLong());
    var r = LeaseTimeToLiveResult.newBuilder().setId(id).setGrantedTtlSeconds(lease.ttlMs / 1000)
        .setTtlSeconds((long) Math.ceil(left / 1e9));
    if (withKeys) {
      r.addAllKeys(lease.keys);
    }
    return r.build();
  }

  /** The keys attached to lease {@code id} now (a view; loop thread only), none when there is no such lease. */
  java.util.Collection<ByteString> keysOf(long id) {
    var lease = leases.get(id);
    return lease == null ? List.of() : java.util.Collections.unmodifiableSet(lease.keys);
  }

  LeaseListResult list() {
    var r = LeaseListResult.newBuilder();
    for (long id : leases.keySet()) {
      r.addLeases(timeToLive(id, false));
    }
    return r.build();
  }

  // ---- snapshots ----

  /** {@code lease.next}, and per lease {@code lease.ID = "TTL_MS REMAINING_MS HEXKEY,HEXKEY..."}. */
  @Override
  public Map<String, String> forSnapshot() {
    var m = new HashMap<String, String>();
    if (leases.isEmpty() && nextId == 1) {
      return m;
    }
    m.put(NEXT_ID, Long.toString(nextId));
    long now = clock.getAsLong();
    var hex = HexFormat.of();
    for (var lease : leases.values()) {
      var keys = new StringBuilder();
      for (var k : lease.keys) {
        keys.append(keys.isEmpty() ? "" : ",").append(hex.formatHex(k.toByteArray()));
      }
      m.put(SNAPSHOT_PREFIX + lease.id, lease.ttlMs + " " + Math.max(0, TimeUnit.NANOSECONDS.toMillis(
          lease.deadline - now)) + " " + keys);
    }
    return m;
  }

  @Override
  public void installed(Map<String, String> system) {
    leases.clear();
    leaseOfKey.clear();
    nextId = Long.parseLong(system.getOrDefault(NEXT_ID, "1"));
    long now = clock.getAsLong();
    var hex = HexFormat.of();
    for (var e : system.entrySet()) {
      if (!e.getKey().startsWith(SNAPSHOT_PREFIX) || e.getKey().equals(NEXT_ID)) {
        continue;
      }
      long id = Long.parseLong(e.getKey().substring(SNAPSHOT_PREFIX.length()));
      var parts = e.getValue().split(" ", 3);
      var lease = new Lease(id, Math.max(1, within(Long.parseLong(parts[0]))),
          now + TimeUnit.MILLISECONDS.toNanos(within(Long.parseLong(parts[1]))));
      if (parts.length == 3 && !parts[2].isEmpty()) {
        for (var k : parts[2].split(",")) {
          var key = ByteString.copyFrom(hex.parseHex(k));
          lease.keys.add(key);
          leaseOfKey.put(key, id);
        }
      }
      leases.put(id, lease);
    }
    expiries.reset(leases.values());
  }
}
