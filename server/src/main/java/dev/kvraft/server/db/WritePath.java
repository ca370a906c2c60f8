package dev.kvraft.server.db;

import dev.kvraft.proto.Error;
import dev.kvraft.proto.LogEntry;
import dev.kvraft.proto.Response;
import dev.kvraft.proto.WriteOp;
import dev.kvraft.server.config.ServerConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes. On the leader, all writes of a turn become one {@link LogEntry} (group commit; cut at
 * {@link DatabaseLoop#MAX_ENTRY_BYTES}) proposed under a fresh call id; the {@link Applier} answers them when the
 * entry applies. On a follower, each write is forwarded to the leader's client port as itself with
 * {@code forwarded = true}, all in one flush, and the leader's answer is relayed. A write that never reached the log
 * or the leader is retried (UNAVAILABLE) until its deadline; one whose fate is unknown is answered TIMEOUT; one the
 * link to the leader refuses because it holds too much already is answered OVERLOADED (not applied).
 *
 * <p>Loop thread only.
 */
final class WritePath {
  private static final Logger LOG = LoggerFactory.getLogger(WritePath.class);

  private final ServerConfig config;
  private final String proposer;
  private final PendingRequests pending;
  private final Replies replies;
  private final Retries retries;
  private final CallIds ids;
  private final Supplier<Consensus> consensus;
  private final Supplier<LoopObserver> loopObserver;
  private final Consumer<Event> events;

  WritePath(ServerConfig config, String proposer, PendingRequests pending, Replies replies, Retries retries,
      CallIds ids, Supplier<Consensus> consensus, Supplier<LoopObserver> loopObserver, Consumer<Event> events) {
    this.config = config;
    this.proposer = proposer;
    this.pending = pending;
    this.replies = replies;
    this.retries = retries;
    this.ids = ids;
    this.consensus = consensus;
    this.loopObserver = loopObserver;
    this.events = events;
  }

  /** Commands the leader answers itself, never proposed (lease keep-alives); followers forward them like writes. */
  private java.util.function.Consumer<Event.Command> answeredByLeader = c -> { };
  /** The leader the last writes were forwarded to: named on the answers this node relays. */
  private String forwardingTo = "";

  void answeredByLeader(java.util.function.Consumer<Event.Command> handler) {
    this.answeredByLeader = handler;
  }

  /** Sends this turn's writes on their way. */
  void flush(List<Event.Command> writes, Route route, Forwarder forwarder) {
    if (writes.isEmpty()) {
      return;
    }
    switch (route) {
      case Route.Local local -> {
        // A write whose deadline passed while it waited in the loop's queue is not proposed: its client (or the
        // follower that forwarded it) stops waiting now, and a write proposed now could apply after it was told so.
        // It never reached Raft, so it certainly was not applied. (A follower's link drops such forwards unsent.)
        long now = System.nanoTime();
        writes.removeIf(c -> {
          if (c.deadline() - now > 0) {
            return false;
          }
          replies.error(c, Error.Code.UNAVAILABLE, "node " + config.nodeId() + " could not propose the write before"
              + " its deadline (the node is busy); it was not applied", "");
          return true;
        });
        writes.removeIf(c -> {
          if (c.request().hasLeaseKeepAlive()) {
            answeredByLeader.accept(c);
            return true;
          }
          return false;
        });
        if (!writes.isEmpty()) {
          proposeAll(local.raft(), writes);
        }
      }
      case Route.Leader leader -> forward(leader.address(), writes, forwarder);
      case Route.NoLeader none -> retries.retryOrFail(List.copyOf(writes), Error.Code.UNAVAILABLE, none.why(), "");
      case Route.NotMember not -> not.refuse(replies, writes);
    }
    writes.clear();
  }

  // ---- on the leader ----

  private void proposeAll(Consensus raft, List<Event.Command> writes) {
    int from = 0;
    long bytes = 0;
    for (int i = 0; i < writes.size(); i++) {
      int size = writes.get(i).request().getSerializedSize();
      if (i > from && bytes + size > DatabaseLoop.MAX_ENTRY_BYTES) {
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
    var ops = new ArrayList<WriteOp>(batch.size());
    for (var c : batch) {
      ops.add(AuthLayer.WriteOpOf.of(c.request()));
    }
    propose(raft, batch, ops);
  }

  /** Proposes {@code ops} as one entry; op i's answer goes to {@code batch.get(i)} when it is applied. */
  void propose(Consensus raft, List<Event.Command> batch, List<WriteOp> ops) {
    long callId = ids.next();
    var entry = LogEntry.newBuilder().setProposer(proposer).setProposalId(callId).addAllOps(ops);
    pending.proposed(callId, Pending.of(batch));
    var bytes = entry.build().toByteString();
    loopObserver.get().proposed(batch.size(), bytes.size());
    raft.propose(callId, bytes).whenComplete((ok, err) -> {
      if (err != null) {
        events.accept(new Event.ProposalFailed(callId, err));
      }
    });
  }

  void proposalFailed(Event.ProposalFailed f) {
    if (consensus.get().wasAppended(f.callId())) {
      // It reached the log: it may still commit. Keep waiting for it; the deadline answers TIMEOUT otherwise.
      LOG.debug("proposal {} failed after it was appended ({}); its outcome is unknown until applied or expired",
          f.callId(), f.cause().toString());
      return;
    }
    var writes = pending.proposalDone(f.callId());
    if (writes != null) {
      var err = Failures.consensus(f.cause());
      retries.retryOrFail(writes.commands(), err.code(), err.getMessage(),
          Route.clientAddress(config, consensus.get(), err.leaderId()));
    }
  }

  // ---- on a follower ----

  private void forward(String leaderAddress, List<Event.Command> writes, Forwarder forwarder) {
    var batch = new ArrayList<Forwarder.Forward>(writes.size());
    for (var c : writes) {
      if (c.request().getForwarded()) {
        notLeader(replies, config, c, leaderAddress);
        continue;
      }
      long fwdId = ids.next();
      pending.forwarded(fwdId, Pending.of(List.of(c)));
      // The link sets timeout_ms when it writes the request: what is left of the deadline then.
      batch.add(new Forwarder.Forward(c.request().toBuilder().setId(fwdId).setForwarded(true).build(), c.deadline()));
    }
    if (batch.isEmpty()) {
      return;
    }
    if (forwarder.send(leaderAddress, batch)) {
      forwardingTo = leaderAddress;
      return;
    }
    for (var f : batch) {
      var write = pending.forwardDone(f.request().getId());
      if (write != null) {
        write.commands().forEach(c -> replies.error(c, Error.Code.OVERLOADED, linkFull(config, leaderAddress),
            leaderAddress));
      }
    }
  }

  /** The answer to a request refused because this node's link to the leader holds too much already. */
  static String linkFull(ServerConfig config, String leaderAddress) {
    return "node " + config.nodeId() + " has too many requests waiting to be forwarded to the leader at "
        + leaderAddress + "; not applied: back off and retry, or send to the leader";
  }

  /** The leader answered a forwarded write: relay it, or route it again if the leader did not apply it. */
  void forwardReplied(Pending write, Response r) {
    var c = write.commands().get(0);
    c.trace().raftDone(System.nanoTime());
    if (r.hasError() && r.getError().getCode() == Error.Code.UNAVAILABLE) {
      // The leader did not apply it (UNAVAILABLE is definite): route it again, maybe to a new leader.
      retries.retryOrFail(write.commands(), Error.Code.UNAVAILABLE, r.getError().getMessage(),
          r.getError().getLeaderAddress());
      return;
    }
    if (r.hasError() && r.getError().getNotMember()) {
      // Not applied either: the leader does not take this node as a member (yet, or any more).
      retries.notMember(write.commands(), config.nodeId(), forwardingTo, r.getError());
      return;
    }
    var answer = r.toBuilder().setId(c.request().getId());
    // Name the leader, so a client that can reach it sends its next writes there and saves this relay.
    answer.getHeaderBuilder().setLeaderAddress(forwardingTo);
    replies.reply(c, answer.build());
  }

  /** A forwarded write got no answer: unknown if it was sent, else certainly not applied. */
  void forwardFailed(Pending write, boolean sent, String reason) {
    if (sent) {
      for (var c : write.commands()) {
        replies.error(c, Error.Code.TIMEOUT, "lost the connection to the leader after forwarding the write ("
            + reason + "); it may or may not have been applied", "");
      }
    } else {
      retries.retryOrFail(write.commands(), Error.Code.UNAVAILABLE, "cannot reach the leader: " + reason, "");
    }
  }

  /** A request that must not be forwarded again reached a node that is not the leader. */
  static void notLeader(Replies replies, ServerConfig config, Event.Command c, String leaderAddress) {
    replies.error(c, Error.Code.UNAVAILABLE, "node " + config.nodeId() + " is not the leader; the leader is at "
        + leaderAddress, leaderAddress);
  }
}
