package dev.kvraft.server.db;

import dev.kvraft.server.config.ServerConfig;

/** Where a turn's writes and linearizable reads go: proposed here, sent to the leader, or kept for a retry. */
sealed interface Route {
  /** This node leads: propose and read here. */
  record Local(Consensus raft) implements Route {}

  /** Another node leads, at this client address. */
  record Leader(String address) implements Route {}

  /** No leader is known; {@code why} says so to the client if it never comes. */
  record NoLeader(String why) implements Route {}

  /**
   * This node's own Raft configuration does not name it: started with {@code --join}, it has not been added yet (the
   * leader may already be sending it the log), or it is being removed. The leader would refuse its forwards and
   * read-index requests as not a member's, so they are answered UNAVAILABLE at once, naming the leader (the client
   * can go there, or to another node) rather than PERMISSION_DENIED.
   */
  record NotMember(String why, String leaderAddress) implements Route {
    /** Answers each command UNAVAILABLE, naming the leader. */
    void refuse(Replies replies, java.util.Collection<Event.Command> commands) {
      commands.forEach(c -> replies.error(c, dev.kvraft.proto.Error.Code.UNAVAILABLE, why, leaderAddress));
    }
  }

  /** Decides the route from Raft's view now (loop thread; cheap). */
  static Route of(Consensus raft, ServerConfig config, boolean canForward) {
    if (raft.isLeader()) {
      return new Local(raft);
    }
    var info = raft.info();
    if (info.leaderId().isEmpty()) {
      return new NoLeader(info == Consensus.Info.UNKNOWN
          ? "node " + config.nodeId() + " is still starting"
          : "no leader is known to node " + config.nodeId() + " (is a quorum of nodes up?)");
    }
    var leader = clientAddress(config, raft, info.leaderId());
    if (!raft.inOwnConfiguration()) {
      return new NotMember("node " + config.nodeId() + " is not in the cluster's configuration: it is waiting to be"
          + " added (started with --join; 'member add' makes it a member) or being removed; send the request to"
          + " another node" + (leader.isEmpty() ? "" : " (the leader is at " + leader + ")"), leader);
    }
    if (leader.isEmpty() || !canForward) {
      return new NoLeader("leader " + info.leaderId() + " has no known client address (not in this node's"
          + " configuration)");
    }
    return new Leader(leader);
  }

  /**
   * The client address of a member, from the Raft configuration (which follows membership changes), else the
   * cluster setting; "" when the id is empty or unknown.
   */
  static String clientAddress(ServerConfig config, Consensus raft, String nodeId) {
    if (nodeId.isEmpty()) {
      return "";
    }
    for (var m : raft.members()) {
      if (m.id().equals(nodeId) && !m.clientAddress().isEmpty()) {
        return m.clientAddress();
      }
    }
    return config.peer(nodeId).map(p -> p.clientAddress()).orElse("");
  }
}
