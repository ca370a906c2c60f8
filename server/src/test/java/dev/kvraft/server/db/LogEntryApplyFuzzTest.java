package dev.kvraft.server.db;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.junit.FuzzTest;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.kvraft.proto.LogEntry;

/**
 * Fuzzes the apply of an arbitrary Raft log entry: whatever bytes a committed entry holds (a hostile client can
 * commit any bytes through the Raft port; issue #15), applying it must never throw, since every node would throw
 * the same way and stop for good.
 *
 * <p>Drives the real apply step, {@link Applier#apply}, with the mirror's listener attached (as in a node with
 * {@code log.mirror} on, where {@link Summaries#of} fills the summary column): an entry that does not decode is a
 * recorded no-op that moves the applied index and not the revision; every other entry applies op by op, and each op
 * leaves the revision unchanged or raises it by exactly one.
 *
 * <p>Seeds: {@code src/test/resources/dev/kvraft/server/db/LogEntryApplyFuzzTestInputs/applyNeverThrows/}.
 * Fuzzing mode: TESTING.md, "Fuzzing".
 */
class LogEntryApplyFuzzTest {

  @FuzzTest(maxDuration = "2m")
  void applyNeverThrows(byte[] payload) throws Exception {
    var state = new KvState();
    var pending = new PendingRequests();
    var applier = new Applier(state, "n1@fuzz", pending, new Replies("n1", state), () -> Consensus.notStarted("n1"),
        new MemberToken());
    var rows = new java.util.ArrayList<String>();
    applier.observer(new ApplyObserver() {
      @Override
      public KvState.OpListener beginEntry(LogPosition at, dev.kvraft.storage.EntryKind kind, String proposer,
          int opCount, String summary, com.google.protobuf.ByteString bytes) {
        rows.add(kind.name());
        return KvState.OpListener.NONE;
      }
    });
    int ops = -1;
    try {
      ops = LogEntry.parseFrom(payload).getOpsCount();
    } catch (InvalidProtocolBufferException e) {
      // does not decode: must become a recorded no-op
    }
    var done = new java.util.concurrent.CompletableFuture<Void>();
    applier.apply(new Event.Applied(LogPosition.of(1, 1), com.google.protobuf.ByteString.copyFrom(payload), done));
    assertTrue(done.isDone() && !done.isCompletedExceptionally(), "the entry is applied, whatever it holds");
    assertEquals(1, applier.appliedIndex());
    assertEquals(java.util.List.of(ops < 0 ? "REJECTED" : "NORMAL"), rows, "one mirror row of the right kind");
    assertEquals(ops < 0 ? 1 : 0, applier.rejectedEntries());
    assertTrue(state.revision() <= Math.max(0, ops), "each op raises the revision by at most one: "
        + state.revision() + " after " + ops + " ops");
  }
}
