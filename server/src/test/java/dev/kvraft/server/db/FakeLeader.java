package dev.kvraft.server.db;

import com.google.protobuf.ByteString;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * A {@link Consensus} that leads {@code members} with {@code followers} as it sees them, and records each leadership
 * transfer it is asked for, answering it with {@link #answer}. Fields are set by the test thread; transfers are
 * recorded under the object's lock.
 */
final class FakeLeader implements Consensus {
  record Transfer(long callId, String to, long timeoutMs) {}

  final List<Transfer> transfers = new ArrayList<>();
  final List<Member> members;
  volatile List<Follower> followers;
  volatile CompletableFuture<?> answer = CompletableFuture.completedFuture(null);

  FakeLeader(List<Member> members, List<Follower> followers) {
    this.members = members;
    this.followers = followers;
  }

  static Member voter(String id) {
    return new Member(id, "", "", true);
  }

  @Override public CompletableFuture<?> propose(long callId, ByteString entry) { return null; }
  @Override public CompletableFuture<Long> readBarrier(long callId) { return null; }
  @Override public boolean wasAppended(long callId) { return false; }
  @Override public void forget(long callId) { }
  @Override public long term() { return 1; }
  @Override public boolean isLeader() { return true; }
  @Override public Info info() { return Info.UNKNOWN; }
  @Override public List<Member> members() { return members; }
  @Override public List<Follower> followers() { return followers; }

  @Override
  public synchronized CompletableFuture<?> transferLeadership(long callId, String targetId, long timeoutMs) {
    transfers.add(new Transfer(callId, targetId, timeoutMs));
    return answer;
  }
}
