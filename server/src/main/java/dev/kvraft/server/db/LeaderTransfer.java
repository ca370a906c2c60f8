package dev.kvraft.server.db;

import dev.kvraft.proto.Error;
import dev.kvraft.proto.Header;
import dev.kvraft.proto.Response;
import dev.kvraft.proto.TransferLeaderResult;
import dev.kvraft.server.config.ServerConfig;

/**
 * A client's TransferLeader command (like etcd's move-leader): on the leader, hand leadership to the named member, or
 * to the follower whose log is furthest ahead; anywhere else, say where the leader is. The loop thread starts it; the
 * answer comes from Raft's thread when the transfer is done or failed. Writes sent meanwhile fail UNAVAILABLE in
 * Raft and the loop routes them again, to the new leader.
 */
final class LeaderTransfer {
  private LeaderTransfer() {}

  static void start(Event.Command c, ServerConfig config, Consensus raft, Replies replies, CallIds ids) {
    var info = raft.info();
    if (!raft.isLeader()) {
      var leader = Route.clientAddress(config, raft, info.leaderId());
      replies.error(c, Error.Code.UNAVAILABLE, "node " + config.nodeId() + " is not the leader; send TransferLeader"
          + (leader.isEmpty() ? " to the leader once there is one" : " to the leader at " + leader), leader);
      return;
    }
    var target = c.request().getTransferLeader().getTarget();
    if (target.isEmpty()) {
      var best = raft.mostUpToDateFollower(config.electionTimeoutMin().toMillis());
      if (best.isEmpty()) {
        replies.error(c, Error.Code.INVALID_ARGUMENT, "node " + config.nodeId() + " has no follower to hand"
            + " leadership to", "");
        return;
      }
      target = best.get().id();
    }
    var t = target;
    var member = raft.members().stream().filter(m -> m.id().equals(t)).findFirst();
    if (member.isEmpty() || !member.get().voter()) {
      replies.error(c, Error.Code.INVALID_ARGUMENT, "'" + target + "' is not a voting member; voters are "
          + raft.members().stream().filter(Consensus.Member::voter).map(Consensus.Member::id).toList(), "");
      return;
    }
    var id = c.request().getId();
    if (target.equals(config.nodeId())) {
      replies.reply(c, answer(id, config.nodeId(), target));
      return;
    }
    var to = target;
    java.util.concurrent.CompletableFuture<?> transfer;
    try {
      transfer = raft.transferLeadership(ids.next(), to, Deadlines.millisLeft(c.deadline()));
    } catch (java.util.concurrent.RejectedExecutionException e) {
      // Raft is closing (its admin executor is shut down): the node is going down.
      replies.error(c, Error.Code.UNAVAILABLE, "node " + config.nodeId() + " is stopping; use another node", "");
      return;
    }
    replies.handedOff(); // answered from Raft's thread from here on
    transfer.whenComplete((ok, err) -> {
      if (err != null) {
        var e = Failures.consensus(err);
        replies.answer(c, Replies.error(id, e.code(), "leadership stays where it was: " + e.getMessage(), ""));
      } else {
        replies.answer(c, answer(id, config.nodeId(), to));
      }
    });
  }

  private static Response answer(long id, String nodeId, String leader) {
    return Response.newBuilder().setId(id).setHeader(Header.newBuilder().setNodeId(nodeId))
        .setTransferLeader(TransferLeaderResult.newBuilder().setLeaderId(leader)).build();
  }
}
