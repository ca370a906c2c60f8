package dev.kvraft.server.db;

import dev.kvraft.proto.LogEntry;
import dev.kvraft.proto.WriteOp;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Entries the leader's loop proposes on its own account (a compaction, lease expiries), answered by nobody: a failed
 * proposal is logged at debug level and the caller proposes again on a later turn.
 */
final class OwnProposals {
  private static final Logger LOG = LoggerFactory.getLogger(OwnProposals.class);

  private OwnProposals() {}

  static void propose(Consensus raft, CallIds ids, String proposer, List<WriteOp> ops, String what) {
    var entry = LogEntry.newBuilder().setProposer(proposer).setProposalId(ids.next()).addAllOps(ops).build();
    raft.propose(entry.getProposalId(), entry.toByteString()).whenComplete((ok, err) -> {
      if (err != null) {
        LOG.debug("proposing {} failed ({}); the leader tries again", what, err.toString());
      }
    });
  }
}
