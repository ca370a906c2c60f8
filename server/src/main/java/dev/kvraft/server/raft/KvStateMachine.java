package dev.kvraft.server.raft;

import com.google.protobuf.UnsafeByteOperations;
import dev.kvraft.server.db.StateMachineSink;
import dev.kvraft.server.db.LogPosition;
import dev.kvraft.server.db.KvState;
import dev.kvraft.storage.EntryKind;
import dev.kvraft.storage.SnapshotFiles;
import dev.kvraft.storage.StorageException;
import java.io.IOException;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.ratis.proto.RaftProtos.RaftConfigurationProto;
import org.apache.ratis.proto.RaftProtos.RaftPeerRole;
import org.apache.ratis.proto.RaftProtos.RoleInfoProto;
import org.apache.ratis.protocol.ClientId;
import org.apache.ratis.protocol.Message;
import org.apache.ratis.protocol.RaftClientRequest;
import org.apache.ratis.protocol.RaftGroupId;
import org.apache.ratis.protocol.RaftGroupMemberId;
import org.apache.ratis.protocol.RaftPeerId;
import org.apache.ratis.server.RaftServer;
import org.apache.ratis.server.storage.RaftStorage;
import org.apache.ratis.statemachine.TransactionContext;
import org.apache.ratis.statemachine.impl.BaseStateMachine;
import org.apache.ratis.statemachine.impl.SingleFileSnapshotInfo;
import org.apache.ratis.util.LifeCycle;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The thin bridge between Ratis and the database loop; it holds no key-value state of its own.
 *
 * <ul>
 *   <li>{@link #applyTransaction} (Ratis's single updater thread, strict log order) hands the entry to the database
 *       loop and returns a future the loop completes once it applied the entry. Puts, Deletes and Txns all arrive
 *       here, packed many to an entry.
 *   <li>Configuration and metadata entries arrive through {@link #notifyConfigurationChanged} and
 *       {@link #notifyTermIndexUpdated}; they too go through the loop, so the last applied index only ever moves in
 *       log order. Each configuration Ratis hands over is also told to {@code configurationChanged} (with TLS, the
 *       transport then closes the Raft channels of peers no longer members): one applied from the log, and the
 *       leader's, which a snapshot install brings (see {@link #notifyConfigurationChanged}).
 *   <li>{@link #query} is the end of a read-index round (a group's only voter's read barrier, and the commit
 *       notice): Ratis calls it once its applied index passed the read index, so it has nothing left to do (the loop
 *       answers the reads when the barrier's reply reaches it). Other read barriers are empty entries.
 *   <li>{@link #takeSnapshot} starts a snapshot in the background and answers with the newest one on disk;
 *       {@link #initialize} loads it at start-up, {@link #pause} and {@link #reinitialize} load one Ratis installed
 *       from the leader.
 *   <li>{@link #preAppendTransaction} remembers which of this node's proposals reached the log, so that a proposal
 *       failed by a leader change is reported as "outcome unknown", not as "not applied".
 * </ul>
 *
 * <p>Thread-safety: Ratis calls this from its own threads; the only mutable state here is the concurrent set of
 * appended call ids, the configuration waiting for its index and the latch a leader election's close counts down,
 * all safe for that.
 */
final class KvStateMachine extends BaseStateMachine {
  private static final Logger LOG = LoggerFactory.getLogger(KvStateMachine.class);
  private final StateMachineSink loop;
  private final ClientId clientId;
  private final KvSnapshotStorage storage = new KvSnapshotStorage();
  private final SnapshotManager snapshots;
  private final Set<Long> appended = ConcurrentHashMap.newKeySet();
  private final java.util.concurrent.atomic.AtomicLong leaderChanges = new java.util.concurrent.atomic.AtomicLong();
  private volatile PendingConf pendingConf;
  private final java.nio.file.Path tmpDir;
  /** A backup to start from, when this is a new node being restored (--restore). */
  private final java.util.Optional<java.nio.file.Path> restore;
  /** Started with --join: its state comes from the leader, never from a seed. */
  private final boolean join;
  /** Told of each configuration Ratis hands over (the TLS transport closes removed members' channels). */
  private final Runnable configurationChanged;

  /** Counted down once Ratis's leader election closes this node as not a voter; see {@link #notifyServerShutdown}. */
  private final java.util.concurrent.CountDownLatch closedByElection = new java.util.concurrent.CountDownLatch(1);

  private record PendingConf(long index, String summary) {}

  KvStateMachine(StateMachineSink loop, ClientId clientId, java.nio.file.Path tmpDir, long snapshotThreshold,
      long snapshotPhase, java.util.Optional<java.nio.file.Path> restore, boolean join, Runnable configurationChanged) {
    this.configurationChanged = configurationChanged;
    this.loop = loop;
    this.join = join;
    this.tmpDir = tmpDir;
    this.restore = restore;
    this.clientId = clientId;
    this.snapshots = new SnapshotManager(storage, loop, tmpDir, snapshotThreshold, snapshotPhase);
  }

  SnapshotManager snapshots() {
    return snapshots;
  }

  /** Start-up: load the newest snapshot into the loop; Ratis then replays only the entries after it. */
  @Override
  public void initialize(RaftServer server, RaftGroupId groupId, RaftStorage raftStorage) throws IOException {
    super.initialize(server, groupId, raftStorage);
    getLifeCycle().transition(LifeCycle.State.STARTING);
    storage.init(raftStorage);
    var smDir = raftStorage.getStorageDir().getStateMachineDir().toPath();
    snapshots.init(smDir);
    if (restore.isEmpty() && !join && storage.getLatestSnapshot() == null
        && SeedSnapshot.noLogSegments(raftStorage.getStorageDir().getCurrentDir().toPath())) {
      // A new cluster's node: its log starts at index 1, after an empty snapshot (the index-0 repair).
      SeedSnapshot.genesis(smDir, tmpDir);
      loadLatestSnapshot(storage.loadLatestSnapshot(), "made for a new cluster");
    } else if (restore.isPresent() && storage.getLatestSnapshot() == null) {
      var backup = restore.get();
      var meta = SeedSnapshot.seed(backup, smDir, tmpDir);
      LOG.info("restored from backup {}: {} keys at revision {} (taken at index {} of the old cluster, created {});"
          + " the new log starts after it", backup, meta.keyCount(), meta.revision(), meta.index(), meta.createdAt());
      loadLatestSnapshot(storage.loadLatestSnapshot(), "restored from " + backup);
    } else {
      loadLatestSnapshot(storage.getLatestSnapshot(), "restart");
    }
    getLifeCycle().transition(LifeCycle.State.RUNNING);
  }

  /**
   * Snapshot install on a lagging follower, step 1: Ratis is about to replace {@code sm/}. No snapshot of this node's
   * goes there until {@link #reinitialize}, or until an entry committed after now is applied (the install failed:
   * see {@link SnapshotManager}).
   */
  @Override
  public void pause() {
    snapshots.installing(committedIndex()); // waits for a snapshot being moved into sm/
    if (getLifeCycleState() == LifeCycle.State.RUNNING) {
      getLifeCycle().transition(LifeCycle.State.PAUSING);
      getLifeCycle().transition(LifeCycle.State.PAUSED);
    }
  }

  /** Snapshot install, step 2: load the snapshot Ratis installed and go on from its index. */
  @Override
  public void reinitialize() throws IOException {
    getLifeCycle().transition(LifeCycle.State.STARTING);
    try {
      loadLatestSnapshot(storage.loadLatestSnapshot(), "installed from the leader");
    } finally {
      snapshots.installed();
    }
    getLifeCycle().transition(LifeCycle.State.RUNNING);
  }

  /**
   * Ratis's commit index (a volatile read; {@code pause()} runs under Ratis's server lock, so nothing here may wait).
   * If the division cannot be had, the largest index: the hold then ends only at {@link #reinitialize}, as before.
   */
  private long committedIndex() {
    try {
      return getServer().join().getDivision(getGroupId()).getRaftLog().getLastCommittedIndex();
    } catch (IOException | RuntimeException e) {
      LOG.warn("cannot read the commit index as a snapshot install pauses the state machine ({}); this node's own"
          + " snapshots wait until the install is done", e.toString());
      return Long.MAX_VALUE;
    }
  }

  private void loadLatestSnapshot(SingleFileSnapshotInfo info, String why) throws IOException {
    if (info == null) {
      return;
    }
    var file = info.getFile().getPath();
    long start = System.nanoTime();
    SnapshotFiles.Meta meta;
    KvState.Contents kvs;
    try {
      var loaded = SnapshotLoad.read(file);
      meta = loaded.meta();
      kvs = loaded.contents();
    } catch (StorageException e) {
      throw new StorageException(e.getMessage() + ". The node cannot start from it: the Raft log below it is"
          + " purged. Move this node's data directory aside and start it empty; it catches up from the leader.", e);
    }
    if (meta.index() != info.getIndex() || meta.term() != info.getTerm()) {
      throw new StorageException("snapshot " + file + " says term " + meta.term() + " index " + meta.index()
          + " but is named for term " + info.getTerm() + " index " + info.getIndex());
    }
    long read = System.nanoTime();
    try {
      loop.install(LogPosition.of(meta.term(), meta.index()), meta.revision(), meta.configuration(), kvs,
          meta.system(),
          "snapshot " + file.getFileName() + " " + why).get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while loading snapshot " + file, e);
    } catch (java.util.concurrent.ExecutionException e) {
      throw new IOException("loading snapshot " + file + " failed: " + e.getCause(), e.getCause());
    }
    updateLastAppliedTermIndex(meta.term(), meta.index());
    LOG.info("loaded snapshot {} ({}): {} keys at revision {}, index {}; read in {} ms, installed in {} ms",
        file.getFileName(), why, kvs.size(), meta.revision(), meta.index(), (read - start) / 1_000_000,
        (System.nanoTime() - read) / 1_000_000);
  }

  /** Ratis asks every apply round once the threshold passed; never blocks (see {@link SnapshotManager}). */
  @Override
  public long takeSnapshot() {
    return snapshots.onRaftTrigger(getLastAppliedTermIndex().getIndex());
  }

  @Override
  public void close() throws IOException {
    snapshots.close();
    super.close();
  }

  @Override
  public KvSnapshotStorage getStateMachineStorage() {
    return storage;
  }

  /**
   * Refuses, before it reaches the log, any entry not proposed by this node's own proposer: kvraft's leader is the
   * only writer of its log, and a request sent straight to the Raft port by anyone else is not a kvraft command.
   */
  @Override
  public TransactionContext startTransaction(RaftClientRequest request) throws IOException {
    if (!request.getClientId().equals(clientId)) {
      throw new RefusedEntryException("kvraft refuses Raft log entries not proposed by its own nodes (client "
          + request.getClientId() + "); clients use the kvraft client port");
    }
    return super.startTransaction(request);
  }

  /** The refusal sent back to a foreign Raft client: a message, no server stack trace. */
  static final class RefusedEntryException extends IOException {
    RefusedEntryException(String message) {
      super(message);
    }

    @Override
    public synchronized Throwable fillInStackTrace() {
      return this;
    }
  }

  @Override
  public TransactionContext preAppendTransaction(TransactionContext trx) throws IOException {
    var request = trx.getClientRequest();
    if (request != null && request.getClientId().equals(clientId)) {
      appended.add(request.getCallId());
    }
    return trx;
  }

  boolean wasAppended(long callId) {
    return appended.contains(callId);
  }

  void forget(long callId) {
    appended.remove(callId);
  }

  @Override
  public CompletableFuture<Message> applyTransaction(TransactionContext trx) {
    var entry = trx.getLogEntry();
    long term = entry.getTerm();
    long index = entry.getIndex();
    var data = entry.getStateMachineLogEntry().getLogData();
    var payload = UnsafeByteOperations.unsafeWrap(data.asReadOnlyByteBuffer());
    snapshots.applied(index);
    return loop.applied(LogPosition.of(term, index), payload).thenApply(v -> {
      updateLastAppliedTermIndex(term, index);
      return Message.EMPTY;
    });
  }

  /**
   * Ratis hands over a configuration, from one of two places (Ratis 3.3.0):
   * <ul>
   *   <li>a configuration entry applied ({@code RaftServerImpl.applyLogToStateMachine}), on Ratis's updater thread;
   *       {@link #notifyTermIndexUpdated} follows for the same index;
   *   <li>a snapshot install ({@code SnapshotInstallationHandler.installSnapshotImpl}): each InstallSnapshot request
   *       carries the leader's current configuration, which this node takes, with the term left out (0), on the
   *       thread that handles the request (with TLS, the Raft I/O event loop of the leader's channel); once per
   *       request, every chunk, as Ratis drops and sets it again each time. A node that catches up by snapshot never
   *       applies the entries below it, so this is how it learns of a removal that happened meanwhile. No
   *       {@link #notifyTermIndexUpdated} follows for that index when it is below the snapshot; the pending summary
   *       is then never matched.
   * </ul>
   * Both tell {@code configurationChanged}, which must not block: the event loop case runs on a Netty thread.
   */
  @Override
  public void notifyConfigurationChanged(long term, long index, RaftConfigurationProto conf) {
    var peers = new StringBuilder("peers");
    conf.getPeersList().forEach(p -> peers.append(' ').append(p.getId().toStringUtf8()).append('@')
        .append(p.getAddress()));
    if (term > 0) {
      // An applied entry, whose notifyTermIndexUpdated comes next on this thread. A snapshot install's configuration
      // comes with term 0 on a Raft I/O thread, possibly in between: it must not take the applied entry's place.
      pendingConf = new PendingConf(index, peers.toString());
    }
    try {
      configurationChanged.run();
    } catch (RuntimeException e) {
      LOG.error("after taking the configuration of index {}: {}; a removed member's open Raft connection may stay"
          + " open until the next change or a restart", index, e.toString(), e);
    }
  }

  @Override
  public void notifyTermIndexUpdated(long term, long index) {
    var conf = pendingConf;
    boolean isConf = conf != null && conf.index() == index;
    snapshots.applied(index);
    loop.metaApplied(LogPosition.of(term, index), isConf ? EntryKind.CONFIGURATION : EntryKind.METADATA, isConf ? conf.summary() : "")
        .thenRun(() -> updateLastAppliedTermIndex(term, index));
  }

  @Override
  public void notifyLeaderChanged(RaftGroupMemberId groupMemberId, RaftPeerId newLeaderId) {
    if (newLeaderId != null) {
      leaderChanges.incrementAndGet();
    }
    LOG.info("node {} sees a new leader: {}", groupMemberId.getPeerId(),
        newLeaderId == null ? "none (election under way)" : newLeaderId);
  }

  /**
   * Ratis closed this division on its own. In Ratis 3.3.0 {@code allServer == false} comes from one place only: a
   * leader election that ended NOT_IN_CONF (this node's configuration leaves it out) or SHUTDOWN (a vote reply said
   * {@code shouldShutdown}, which only a leader whose committed, stable configuration leaves the candidate out sends,
   * and only to a candidate whose log ends before that configuration). Both mean this node is not a voter: removed, or
   * a learner that stood for election ({@link RaftNode#closedAsNonMember} tells the two apart). The election runs while
   * the node is a candidate, so a notice in any other role is not counted. Our own close, and a close of
   * the whole server, say {@code allServer == true}.
   */
  @Override
  public void notifyServerShutdown(RoleInfoProto roleInfo, boolean allServer) {
    if (!allServer && roleInfo.getRole() == RaftPeerRole.CANDIDATE) {
      closedByElection.countDown(); // the watchdog says so, once
    } else if (!allServer) {
      LOG.warn("node {}: Raft closed this node as {} without being asked", roleInfo.getSelf().getId().toStringUtf8(),
          roleInfo.getRole());
    }
  }

  /**
   * Whether Ratis's leader election closed this node as not a voter ({@link #notifyServerShutdown}), waiting up to
   * {@code grace} for it: Ratis tells the state machine just after its close, so the watchdog may see the node closed
   * a moment before. Any thread.
   */
  boolean closedByElection(java.time.Duration grace) throws InterruptedException {
    return closedByElection.await(grace.toNanos(), java.util.concurrent.TimeUnit.NANOSECONDS);
  }

  /** Whether Ratis's leader election closed this node as not a voter, as of now; any thread. */
  boolean closedByElectionNow() {
    return closedByElection.getCount() == 0;
  }

  /** Leaders this node saw elected since it started (Ratis's notifications); any thread. */
  long leaderChanges() {
    return leaderChanges.get();
  }

  @Override
  public CompletableFuture<Message> query(Message request) {
    return CompletableFuture.completedFuture(Message.EMPTY);
  }
}
