package dev.kvraft.server.db;

import dev.kvraft.proto.Error;
import dev.kvraft.proto.Header;
import dev.kvraft.proto.MemberChange;
import dev.kvraft.proto.MemberChangeResult;
import dev.kvraft.proto.Response;
import dev.kvraft.server.config.PeerSpec;
import dev.kvraft.server.config.ServerConfig;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A client's MemberChange command (like etcd's {@code member add|remove|promote}): on the leader, one change of the
 * Raft configuration; anywhere else, say where the leader is. The loop thread checks it against the configuration
 * it sees and starts it; the answer comes from Raft's thread once the new configuration is committed (or the change
 * failed and the old one stands).
 *
 * <p>ADD is one change: Ratis stages the new node and brings its log up to date (a snapshot install when the leader
 * has one) before the configuration that names it commits, so a new node never counts for a quorum before it holds
 * the log. A voter is staged as a voter, never as a learner first: Ratis 3.3.0 never tells a node staged as a
 * learner that it caught up, so once promoted it stays "starting", refuses every vote and never stands for election
 * until the next leader (or its own restart). PROMOTE cannot avoid that, so once a promotion commits the leader
 * hands leadership to another voter: the new leader's first append tells the promoted node it may vote.
 */
final class MembershipChange {
  private static final Logger LOG = LoggerFactory.getLogger(MembershipChange.class);

  private MembershipChange() {}

  static void start(Event.Command c, ServerConfig config, Consensus raft, Replies replies, CallIds ids,
      Forwarder forwarder, java.util.function.Consumer<Event> events, Runnable removed) {
    var change = c.request().getMemberChange();
    if (c.request().getForwarded() && change.getAction() == MemberChange.Action.REMOVE
        && change.getId().equals(config.nodeId()) && !raft.isLeader()) {
      // The leader telling this node it was removed (only members may send forwarded requests): a removed follower
      // hears nothing more from Raft, so this is how it learns it should stop.
      LOG.warn("node {}: the leader says this node was removed from the cluster", config.nodeId());
      replies.reply(c, answer(c.request().getId(), config.nodeId(), raft.members()));
      removed.run();
      return;
    }
    if (!raft.isLeader()) {
      var leader = Route.clientAddress(config, raft, raft.info().leaderId());
      replies.error(c, Error.Code.UNAVAILABLE, "node " + config.nodeId() + " is not the leader; send member changes"
          + (leader.isEmpty() ? " to the leader once there is one" : " to the leader at " + leader), leader);
      return;
    }
    var current = raft.members();
    var existing = current.stream().filter(m -> m.id().equals(change.getId())).findFirst();
    var voters = new ArrayList<Consensus.Member>();
    var learners = new ArrayList<Consensus.Member>();
    current.forEach(m -> (m.voter() ? voters : learners).add(m));
    String promoted = null;
    switch (change.getAction()) {
      case ADD -> {
        if (existing.isPresent()) {
          // A learner here was added with --learner, or by an ADD of an older version cut short between its steps.
          replies.error(c, Error.Code.CONFLICT, "'" + change.getId() + "' is already a member ("
              + (existing.get().voter() ? "voter); remove it first to re-add it"
                  : "learner); 'member promote " + change.getId() + "' makes it a voter, or remove it first to"
                      + " re-add it"), "");
          return;
        }
        var spec = PeerSpec.parse(change.getId() + "=" + change.getAddress());
        var added = new Consensus.Member(spec.id(), spec.clientAddress(), spec.peerAddress(), false);
        for (var m : current) {
          if (m.peerAddress().equals(added.peerAddress()) || m.clientAddress().equals(added.clientAddress())) {
            replies.error(c, Error.Code.CONFLICT, "member '" + m.id() + "' already uses an address of "
                + change.getAddress(), "");
            return;
          }
        }
        if (change.getLearner()) {
          learners.add(added);
        } else {
          voters.add(new Consensus.Member(added.id(), added.clientAddress(), added.peerAddress(), true));
        }
      }
      case REMOVE -> {
        if (existing.isEmpty()) {
          replies.error(c, Error.Code.CONFLICT, "'" + change.getId() + "' is not a member; members are "
              + current.stream().map(Consensus.Member::id).toList(), "");
          return;
        }
        if (existing.get().voter() && voters.size() == 1) {
          replies.error(c, Error.Code.CONFLICT, "'" + change.getId() + "' is the only voter; add another first", "");
          return;
        }
        voters.removeIf(m -> m.id().equals(change.getId()));
        learners.removeIf(m -> m.id().equals(change.getId()));
      }
      case PROMOTE -> {
        if (existing.isEmpty() || existing.get().voter()) {
          replies.error(c, Error.Code.CONFLICT, "'" + change.getId() + "' is " + (existing.isEmpty()
              ? "not a member" : "already a voter") + "; only a learner can be promoted", "");
          return;
        }
        learners.removeIf(m -> m.id().equals(change.getId()));
        voters.add(new Consensus.Member(existing.get().id(), existing.get().clientAddress(),
            existing.get().peerAddress(), true));
        promoted = existing.get().id();
      }
      case UNRECOGNIZED -> {
        replies.error(c, Error.Code.INVALID_ARGUMENT, "unknown member change action", "");
        return;
      }
    }
    long id = c.request().getId();
    long deadline = c.deadline(); // the client's timeout_ms or request.timeout.ms: the ADD (one change) within it
    var promotedId = promoted;
    long call = ids.next();
    long handOverCall = ids.next(); // taken here: the hand-over after a promotion starts on Raft's thread
    java.util.concurrent.CompletableFuture<?> changing;
    try {
      changing = raft.changeMembers(call, current, voters, learners, Deadlines.millisLeft(deadline));
    } catch (java.util.concurrent.RejectedExecutionException e) {
      // Raft is closing (its admin executor is shut down): the node is going down.
      replies.error(c, Error.Code.UNAVAILABLE, "node " + config.nodeId() + " is stopping; use another node", "");
      return;
    }
    replies.handedOff(); // answered from Raft's thread from here on
    LOG.info("node {}: membership change {} {} {} starting", config.nodeId(), change.getAction(), change.getId(),
        change.getAddress());
    changing.whenComplete((ok, err) -> {
      if (err != null) {
        var e = Failures.consensus(err);
        LOG.warn("node {}: membership change {} {} failed: {}", config.nodeId(), change.getAction(), change.getId(),
            e.getMessage());
        replies.answer(c, Replies.error(id, e.code(), "membership change " + describe(change) + " failed: "
            + e.getMessage(), ""));
      } else {
        LOG.info("node {}: membership change {} committed; members now {}", config.nodeId(), describe(change),
            raft.members());
        replies.answer(c, answer(id, config.nodeId(), raft.members()));
        if (promotedId != null) {
          // The promoted node cannot lead yet; with no other voter to take over, it votes only after the next leader
          // or its restart, and the log says so.
          new HandOver(config, raft).handOverAsync(new HandOver.Reason.Promotion(promotedId, handOverCall));
        }
        if (change.getAction() == MemberChange.Action.REMOVE && !change.getId().equals(config.nodeId())
            && forwarder != null && existing.isPresent() && !existing.get().clientAddress().isEmpty()) {
          // Tell the removed node over the member link, from the loop's thread, which owns the forwarder and the
          // call ids. The notice goes under a fresh id of the loop's own, never one derived from the client's (which
          // could be the link's MemberHello id or a pending forward's): its answer, or its failure, matches no
          // waiting request and is dropped.
          var address = existing.get().clientAddress();
          var tellBy = System.nanoTime() + config.requestTimeout().toNanos();
          events.accept(new Event.Task(() -> {
            var tell = removalNotice(ids.next(), change.getId());
            if (!forwarder.send(address, List.of(new Forwarder.Forward(tell, tellBy)))) {
              LOG.warn("node {}: could not tell node {} at {} that it was removed (this node's link to it holds too"
                  + " much); stop that node by hand", config.nodeId(), change.getId(), address);
            }
          }));
        }
      }
    });
  }

  /** What the leader sends a removed node so that it stops: a forwarded REMOVE of itself. */
  private static dev.kvraft.proto.Request removalNotice(long callId, String removedId) {
    return dev.kvraft.proto.Request.newBuilder().setId(callId).setForwarded(true)
        .setMemberChange(MemberChange.newBuilder().setAction(MemberChange.Action.REMOVE).setId(removedId)).build();
  }

  private static String describe(MemberChange change) {
    return change.getAction().name().toLowerCase(java.util.Locale.ROOT) + " " + change.getId()
        + (change.getAddress().isEmpty() ? "" : " " + change.getAddress());
  }

  private static Response answer(long id, String nodeId, List<Consensus.Member> members) {
    var result = MemberChangeResult.newBuilder();
    members.forEach(m -> result.addMembers(dev.kvraft.proto.Member.newBuilder().setId(m.id())
        .setClientAddress(m.clientAddress()).setPeerAddress(m.peerAddress()).setLearner(!m.voter())));
    return Response.newBuilder().setId(id).setHeader(Header.newBuilder().setNodeId(nodeId))
        .setMemberChange(result).build();
  }
}
