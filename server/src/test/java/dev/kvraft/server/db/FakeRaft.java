package dev.kvraft.server.db;

import com.google.protobuf.ByteString;
import dev.kvraft.proto.LogEntry;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;

/** A Raft whose role, leader and proposal outcomes the test decides. */
final class FakeRaft implements Consensus {
  volatile boolean leader;
  volatile long term = 1;
  volatile String leaderId = "";
  /** Whether this node's own configuration names it (false: started with --join, not added yet). */
  volatile boolean inConfiguration = true;
  final BlockingQueue<Proposal> proposals = new LinkedBlockingQueue<>();
  final BlockingQueue<CompletableFuture<Long>> barriers = new LinkedBlockingQueue<>();
  volatile boolean appended;
  volatile List<Member> members = List.of();
  /** The call id of each membership change, which commits at once. */
  final BlockingQueue<Long> memberChanges = new LinkedBlockingQueue<>();
  /** The timeout each membership change and leadership transfer was given, in order. */
  final BlockingQueue<Long> adminTimeouts = new LinkedBlockingQueue<>();

  record Proposal(long callId, LogEntry entry, CompletableFuture<Object> result) {}

  @Override
  public CompletableFuture<?> propose(long callId, ByteString entry) {
    var f = new CompletableFuture<Object>();
    try {
      proposals.add(new Proposal(callId, LogEntry.parseFrom(entry), f));
    } catch (com.google.protobuf.InvalidProtocolBufferException e) {
      throw new AssertionError(e);
    }
    return f;
  }

  @Override
  public CompletableFuture<Long> readBarrier(long callId) {
    var f = new CompletableFuture<Long>();
    barriers.add(f);
    return f;
  }

  @Override
  public boolean wasAppended(long callId) {
    return appended;
  }

  @Override
  public void forget(long callId) { }

  @Override
  public long term() {
    return term;
  }

  @Override
  public boolean isLeader() {
    return leader;
  }

  @Override
  public Info info() {
    return new Info(leader ? "LEADER" : "FOLLOWER", 1, leader ? "n1" : leaderId, 0, 0);
  }

  @Override
  public List<Member> members() {
    return members;
  }

  @Override
  public boolean inOwnConfiguration() {
    return inConfiguration;
  }

  @Override
  public CompletableFuture<?> changeMembers(long callId, List<Member> expected, List<Member> voters,
      List<Member> learners, long timeoutMs) {
    var now = new java.util.ArrayList<>(voters);
    now.addAll(learners);
    members = List.copyOf(now);
    memberChanges.add(callId);
    adminTimeouts.add(timeoutMs);
    return CompletableFuture.completedFuture(null);
  }

  @Override
  public CompletableFuture<?> transferLeadership(long callId, String targetId, long timeoutMs) {
    adminTimeouts.add(timeoutMs);
    return CompletableFuture.completedFuture(null);
  }
}
