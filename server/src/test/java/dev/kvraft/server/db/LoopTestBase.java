package dev.kvraft.server.db;

import static org.junit.jupiter.api.Assertions.*;

import dev.kvraft.proto.LogEntry;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import dev.kvraft.proto.WriteOp;
import dev.kvraft.server.config.ServerConfig;
import dev.kvraft.server.testing.Requests;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;

/**
 * What the tests of the database loop alone share: a loop with a fake Raft ({@link FakeRaft}) and a fake leader
 * link ({@link FakeLink}), the answers it gives, and helpers to submit commands and apply entries. Each test class
 * gets a fresh loop per test, stopped after it.
 */
abstract class LoopTestBase {
  static final String N2 = "127.0.0.1:7003";
  final ServerConfig config = ServerConfig.fromMap(Map.of("node.id", "n1",
      "cluster", "n1=127.0.0.1:7001:7002,n2=127.0.0.1:7003:7004", "request.timeout.ms", "1500"));
  final FakeRaft raft = new FakeRaft();
  final FakeLink link = new FakeLink();
  /** Whether the leases' clock stands still at {@link #leaseNanos} (moved only by the test); else it is real. */
  volatile boolean leaseClockFrozen;
  volatile long leaseNanos;
  final DatabaseLoop loop = new DatabaseLoop(config, "n1@test",
      () -> leaseClockFrozen ? leaseNanos : System.nanoTime());
  final BlockingQueue<Response> answers = new LinkedBlockingQueue<>();
  /** The log index of the next entry {@link #applyForeign} applies. */
  long index = 1;

  void start() {
    loop.bind(raft, link, ApplyObserver.NONE, null);
    loop.start();
  }

  /** Starts the loop on the leader of a two-voter cluster: n1 (this node) and n2, whose client address is N2. */
  void startAsLeaderOfN1AndN2() {
    raft.leader = true;
    raft.members = List.of(new Consensus.Member("n1", "127.0.0.1:7001", "127.0.0.1:7002", true),
        new Consensus.Member("n2", N2, "127.0.0.1:7004", true));
    start();
  }

  @AfterEach
  void stop() throws InterruptedException {
    loop.close();
  }

  void submit(Request r) throws InterruptedException {
    submit(r, config.requestTimeout().toNanos());
  }

  void submit(Request r, long timeoutNanos) throws InterruptedException {
    assertTrue(loop.commands().submit(r, answers::add, System.nanoTime() + timeoutNanos,
        RequestTrace.receivedNow("test")));
  }

  Response answer() throws InterruptedException {
    var r = answers.poll(10, TimeUnit.SECONDS);
    assertNotNull(r, "no answer within 10 s");
    return r;
  }

  /** The next proposal that carries operations: a new leader also proposes the member token, which has none. */
  FakeRaft.Proposal nextWithOps() throws InterruptedException {
    var proposal = next(raft.proposals, "proposal");
    while (proposal.entry().getOpsCount() == 0) {
      proposal = next(raft.proposals, "proposal");
    }
    return proposal;
  }

  /** With no leader, a put of "a" = "first" (id 1) is taken and waits for its retry. */
  void firstPutWaitsForALeader() throws Exception {
    start();
    submit(Requests.put(1, "a", "first"));
    dev.kvraft.server.testing.Await.until("the first put waiting for a leader", java.time.Duration.ofSeconds(5),
        loop::inFlightCommands, n -> n == 1);
  }

  /**
   * Starts the loop as leader and applies an entry of its term (a put of "a" = "x"): a leader answers linearizable
   * reads only once it has applied one.
   */
  void startAsLeaderThatAppliedAnEntryOfItsTerm() throws Exception {
    raft.leader = true;
    start();
    applyForeign(WriteOp.newBuilder().setPut(Requests.put(9, "a", "x").getPut()).build());
  }

  /** An entry another node proposed, applied here. */
  void applyForeign(WriteOp op) throws Exception {
    apply(LogEntry.newBuilder().setProposer("n2@x").setProposalId(index).addOps(op).build());
  }

  /** Applies an entry at the next log index. */
  void apply(LogEntry e) throws Exception {
    apply(1, e);
  }

  /** Applies an entry of {@code term} at the next log index. */
  void apply(long term, LogEntry e) throws Exception {
    loop.stateMachine().applied(LogPosition.of(term, index++), e.toByteString()).get(5, TimeUnit.SECONDS);
  }

  /** Two stale reads, each answered before the next is sent: the loop has finished a turn since this was called. */
  void aWholeLoopTurn(long firstId) throws Exception {
    for (long id = firstId; id < firstId + 2; id++) {
      submit(Requests.staleGet(id, "x"));
      assertEquals(id, answer().getId());
    }
  }

  static <T> T next(BlockingQueue<T> q, String what) throws InterruptedException {
    var t = q.poll(10, TimeUnit.SECONDS);
    assertNotNull(t, "no " + what + " within 10 s");
    return t;
  }
}
