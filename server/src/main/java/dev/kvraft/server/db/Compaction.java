package dev.kvraft.server.db;

import dev.kvraft.proto.Compact;
import dev.kvraft.proto.CompactResult;
import dev.kvraft.proto.Error;
import dev.kvraft.proto.Response;
import dev.kvraft.proto.WriteOp;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * History compaction, like etcd's: a replicated {@code Compact} sets the compact revision, the oldest revision
 * history is kept from, on every node alike ({@link #around}, a layer around the apply step), and tells the
 * {@link ApplyObserver} so the mirror drops its older per-key rows. With {@code compaction.retention} above 0 the
 * leader proposes one by itself ({@link #proposeIfDue}) to keep that many revisions. Snapshots carry the compact
 * revision in their {@code system} table.
 *
 * <p>Loop thread only; {@link #compactRevisionView} is a volatile copy.
 */
final class Compaction implements SystemState {
  private static final Logger LOG = LoggerFactory.getLogger(Compaction.class);
  static final String SNAPSHOT_NAME = "compact_revision";
  /** The leader looks at most this often whether a compaction is due. */
  private static final long CHECK_NANOS = TimeUnit.SECONDS.toNanos(1);

  private final KvState state;
  private final Supplier<ApplyObserver> observer;
  private final long retention;
  private long compactRevision;
  private volatile long compactRevisionView;
  private long nextCheck = System.nanoTime();

  Compaction(KvState state, Supplier<ApplyObserver> observer, long retention) {
    this.state = state;
    this.observer = observer;
    this.retention = retention;
  }

  OpApplier around(OpApplier next) {
    return (op, listener) -> op.hasCompact() ? apply(op.getCompact()) : next.apply(op, listener);
  }

  private Response.Builder apply(Compact c) {
    var response = Response.newBuilder();
    long rev = c.getRevision();
    if (rev <= compactRevision) {
      return response.setError(Error.newBuilder().setCode(Error.Code.COMPACTED).setMessage("revision " + rev
          + " is already compacted: history starts at the compact revision " + compactRevision));
    }
    if (rev > state.revision()) {
      return response.setError(Error.newBuilder().setCode(Error.Code.INVALID_ARGUMENT).setMessage("revision " + rev
          + " is in the future: the store is at revision " + state.revision()));
    }
    compactRevision = rev;
    compactRevisionView = rev;
    observer.get().compacted(rev);
    return response.setCompact(CompactResult.newBuilder().setCompactRevision(rev));
  }

  long compactRevisionView() {
    return compactRevisionView;
  }

  /** On the leader, with compaction.retention set: compacts to {@code revision - retention} once it moved on. */
  void proposeIfDue(Consensus raft, CallIds ids, String proposer) {
    long now = System.nanoTime();
    if (retention <= 0 || now - nextCheck < 0 || !raft.isLeader()) {
      return;
    }
    nextCheck = now + CHECK_NANOS;
    long target = state.revision() - retention;
    // Not for every new revision: once a tenth of the retention (at least one) has passed the last one.
    if (target <= compactRevision + Math.max(1, retention / 10)) {
      return;
    }
    // A second proposal of the same target before the first applied is answered COMPACTED and changes nothing.
    OwnProposals.propose(raft, ids, proposer, java.util.List.of(WriteOp.newBuilder()
        .setCompact(Compact.newBuilder().setRevision(target)).setUser(AuthLayer.SYSTEM).build()),
        "a compaction to revision " + target);
  }

  @Override
  public Map<String, String> forSnapshot() {
    return compactRevision == 0 ? Map.of() : Map.of(SNAPSHOT_NAME, Long.toString(compactRevision));
  }

  @Override
  public void installed(Map<String, String> system) {
    compactRevision = Long.parseLong(system.getOrDefault(SNAPSHOT_NAME, "0"));
    compactRevisionView = compactRevision;
  }
}
