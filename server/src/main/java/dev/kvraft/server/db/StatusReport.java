package dev.kvraft.server.db;

import dev.kvraft.proto.FollowerProgress;
import dev.kvraft.proto.Member;
import dev.kvraft.proto.MembersResult;
import dev.kvraft.proto.StatusResult;
import dev.kvraft.server.config.ServerConfig;
import java.util.ArrayList;
import java.util.List;

/** The answers to Status and Members, from the loop's own state and Raft's view. Loop thread only. */
final class StatusReport {
  private StatusReport() {}

  static StatusResult status(ServerConfig config, Consensus raft, KvState state, Applier applier,
      LoopObserver observer, dev.kvraft.proto.DataSize data) {
    var info = raft.info();
    var status = StatusResult.newBuilder();
    for (var f : raft.followers()) {
      status.addFollowers(FollowerProgress.newBuilder().setId(f.id())
          .setMatchIndex(Math.max(0, f.matchIndex()))
          .setLag(Math.max(0, info.commitIndex() - f.matchIndex())));
    }
    observer.describe(status);
    return status
        .setNodeId(config.nodeId())
        .setRole(info.role())
        .setTerm(info.term())
        .setLeaderId(info.leaderId())
        .setCommitIndex(Math.max(0, info.commitIndex()))
        .setAppliedIndex(Math.max(0, applier.appliedIndex()))
        .setSnapshotIndex(Math.max(0, info.snapshotIndex()))
        .setRevision(state.revision())
        .setKeyCount(state.size())
        .addAllMembers(members(raft, info))
        .setData(data)
        .build();
  }

  static MembersResult members(ServerConfig config, Consensus raft) {
    var info = raft.info();
    return MembersResult.newBuilder().addAllMembers(members(raft, info)).setLeaderId(info.leaderId()).build();
  }

  /** The members of the current Raft configuration; on the leader with each one's match index and lag. */
  private static List<Member> members(Consensus raft, Consensus.Info info) {
    var progress = new java.util.HashMap<String, Consensus.Follower>();
    raft.followers().forEach(f -> progress.put(f.id(), f));
    var list = new ArrayList<Member>();
    for (var m : raft.members()) {
      var member = Member.newBuilder()
          .setId(m.id())
          .setClientAddress(m.clientAddress())
          .setPeerAddress(m.peerAddress())
          .setLeader(m.id().equals(info.leaderId()))
          .setLearner(!m.voter());
      var f = progress.get(m.id());
      if (f != null) {
        member.setMatchIndex(Math.max(0, f.matchIndex())).setLag(Math.max(0, info.commitIndex() - f.matchIndex()));
      }
      list.add(member.build());
    }
    return list;
  }
}
