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
      LoopObserver observer) {
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
        .addAllMembers(members(config, info.leaderId()))
        .build();
  }

  static MembersResult members(ServerConfig config, Consensus raft) {
    var leader = raft.info().leaderId();
    return MembersResult.newBuilder().addAllMembers(members(config, leader)).setLeaderId(leader).build();
  }

  private static List<Member> members(ServerConfig config, String leaderId) {
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
}
