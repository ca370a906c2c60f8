package dev.kvraft.server.db;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.kvraft.proto.LogEntry;
import dev.kvraft.storage.EntryKind;
import java.util.List;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The apply step: committed entries, in log order, into {@link KvState}; answers the writes this node proposed;
 * hands every entry to the {@link ApplyObserver} (the SQLite mirror). Apply is total: an entry that does
 * not decode is applied as a recorded no-op on every node. Also installs snapshots and copies the state for one.
 *
 * <p>Owned by the database loop's thread; {@link #appliedIndexView}, {@link #revisionView} and
 * {@link #rejectedEntries} are volatile copies for other threads.
 */
final class Applier {
  private static final Logger LOG = LoggerFactory.getLogger(Applier.class);

  private final KvState state;
  private final String proposer;
  private final PendingRequests pending;
  private final Replies replies;
  private final Supplier<Consensus> consensus;
  private final MemberToken memberToken;
  private volatile ApplyObserver observer = ApplyObserver.NONE;
  /** More replicated state that snapshots carry (before the loop starts). */
  private final List<SystemState> systemParts = new java.util.ArrayList<>();
  /** The layers each operation goes through; the innermost applies it to {@link #state}. */
  private volatile OpApplier ops;
  private LogPosition applied = LogPosition.NONE;
  private String configuration = "";
  private volatile long appliedIndexView = -1;
  private volatile long revisionView;
  private volatile long rejectedEntries;

  Applier(KvState state, String proposer, PendingRequests pending, Replies replies, Supplier<Consensus> consensus,
      MemberToken memberToken) {
    this.state = state;
    this.memberToken = memberToken;
    this.proposer = proposer;
    this.pending = pending;
    this.replies = replies;
    this.consensus = consensus;
    this.ops = OpApplier.of(state);
    systemParts.add(memberToken);
  }

  /** Snapshots carry this state too, and installing one replaces it (before the loop starts). */
  void systemState(SystemState part) {
    systemParts.add(part);
  }

  /** Wraps the apply of each operation in one more layer (before the loop starts). */
  void wrap(java.util.function.UnaryOperator<OpApplier> layer) {
    ops = ops.wrap(layer);
  }

  void observer(ApplyObserver observer) {
    this.observer = observer;
  }

  ApplyObserver observer() {
    return observer;
  }

  long appliedIndex() {
    return applied.index();
  }

  long appliedTerm() {
    return applied.term();
  }

  String configuration() {
    return configuration;
  }

  long appliedIndexView() {
    return appliedIndexView;
  }

  long revisionView() {
    return revisionView;
  }

  long rejectedEntries() {
    return rejectedEntries;
  }

  void apply(Event.Applied a) {
    LogEntry entry;
    try {
      entry = LogEntry.parseFrom(a.payload());
    } catch (InvalidProtocolBufferException e) {
      // Apply is total: every node records the same no-op, the revision stays where it was.
      rejectedEntries++;
      LOG.warn("log entry {} (term {}, {} bytes) does not decode as a kvraft LogEntry ({}); applied as a no-op, "
          + "recorded in kvraft.db as kind 'rejected'", a.at().index(), a.at().term(), a.payload().size(),
          e.getMessage());
      observer.beginEntry(a.at(), EntryKind.REJECTED, "", 0, "rejected: " + e.getMessage(), a.payload());
      observer.endEntry(a.at().index());
      advance(a.at());
      a.done().complete(null);
      return;
    }
    Pending mine = null;
    if (entry.getProposer().equals(proposer)) {
      mine = pending.proposalDone(entry.getProposalId());
      consensus.get().forget(entry.getProposalId());
    }
    long now = System.nanoTime();
    if (!entry.getMemberToken().isEmpty()) {
      memberToken.applied(entry.getMemberToken());
    }
    var payload = mirroredPayload(entry, a.payload());
    var listener = observer.beginEntry(a.at(), EntryKind.NORMAL, entry.getProposer(),
        entry.getOpsCount(), Summaries.of(entry), payload);
    for (int i = 0; i < entry.getOpsCount(); i++) {
      var response = ops.apply(entry.getOps(i), listener);
      var c = mine == null ? null : mine.at(i);
      if (c != null) {
        c.trace().raftDone(now);
        replies.reply(c, response.setId(c.request().getId()).setHeader(replies.header()).build());
      }
    }
    observer.endEntry(a.at().index());
    advance(a.at());
    a.done().complete(null);
  }

  /**
   * The entry's bytes as {@code kvraft.db} keeps them ({@code raft_log.payload}): none for an entry its op rows
   * describe entirely (plain puts without a lease and single-key deletes, with auth off: each op's key, value,
   * revision and result are in its row), which would otherwise store every value twice on every node, for a sixth or
   * so of the servers' CPU per put (BENCHMARKS.md); the bytes, for inspection, of every other entry (txns, range
   * deletes, leases, auth, compaction, alarms, a member token), never with the member token nor a password's hash.
   */
  static ByteString mirroredPayload(LogEntry entry, ByteString bytes) {
    if (!entry.getMemberToken().isEmpty() || hasSecret(entry)) {
      return withoutSecrets(entry);
    }
    // An entry the rows describe holds no auth op, so no secret: the check above never hides one here.
    return describedByRows(entry) ? ByteString.EMPTY : bytes;
  }

  /** Whether every op is a put with no lease or a single-key delete, run with auth off (no user). */
  private static boolean describedByRows(LogEntry entry) {
    for (var op : entry.getOpsList()) {
      boolean plain = switch (op.getOpCase()) {
        case PUT -> op.getPut().getLease() == 0;
        case DELETE -> op.getDelete().getRangeEnd().isEmpty();
        default -> false;
      };
      if (!plain || !op.getUser().isEmpty()) {
        return false;
      }
    }
    return true;
  }

  private static boolean hasSecret(LogEntry entry) {
    for (var op : entry.getOpsList()) {
      if (op.hasAuth() && !op.getAuth().getPasswordHash().isEmpty()) {
        return true;
      }
    }
    return false;
  }

  private static ByteString withoutSecrets(LogEntry entry) {
    var b = entry.toBuilder().clearMemberToken();
    for (int i = 0; i < b.getOpsCount(); i++) {
      if (b.getOps(i).hasAuth()) {
        b.setOps(i, b.getOps(i).toBuilder().setAuth(b.getOps(i).getAuth().toBuilder().clearPasswordHash()));
      }
    }
    return b.build().toByteString();
  }

  void applyMeta(Event.MetaApplied m) {
    observer.beginEntry(m.at(), m.kind(), "", 0, m.summary(), ByteString.EMPTY);
    observer.endEntry(m.at().index());
    if (m.kind() == EntryKind.CONFIGURATION) {
      configuration = m.summary();
    }
    advance(m.at());
    m.done().complete(null);
  }

  /** Replaces the whole state with a snapshot's. */
  void install(LogPosition at, long revision, String conf, KvState.Contents kvs, java.util.Map<String, String> system,
      String why) {
    state.reset(revision, kvs);
    systemParts.forEach(p -> p.installed(system));
    configuration = conf == null ? "" : conf;
    observer.beginEntry(at, EntryKind.SNAPSHOT_INSTALL, "", 0, why + ": " + kvs.size()
        + " keys at revision " + revision, ByteString.EMPTY);
    observer.installed(revision);
    observer.endEntry(at.index());
    observer.flush();
    advance(at);
  }

  /** The state at the applied index, copied between two applies (shallow: entries are immutable). */
  Snapshotter.PointInTime pointInTime() {
    long start = System.nanoTime();
    var copy = state.copy();
    return new Snapshotter.PointInTime(applied.term(), Math.max(0, applied.index()), state.revision(),
        configuration, copy, System.nanoTime() - start, system());
  }

  /** The snapshot's system table: the member token, users and roles. */
  private java.util.Map<String, String> system() {
    var m = new java.util.HashMap<String, String>();
    systemParts.forEach(p -> m.putAll(p.forSnapshot()));
    return m;
  }

  private void advance(LogPosition at) {
    applied = at;
    appliedIndexView = at.index();
    revisionView = state.revision();
  }
}
