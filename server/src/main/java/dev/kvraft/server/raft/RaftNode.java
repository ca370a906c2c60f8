package dev.kvraft.server.raft;

import com.google.protobuf.ByteString;
import dev.kvraft.proto.Error;
import dev.kvraft.server.config.PeerSpec;
import dev.kvraft.server.config.ServerConfig;
import dev.kvraft.server.db.Consensus;
import dev.kvraft.server.db.ConsensusException;
import dev.kvraft.server.db.StateMachineSink;
import dev.kvraft.server.db.Failures;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import dev.kvraft.server.raft.tls.TlsNettyTransport;
import dev.kvraft.server.raft.tls.TlsSettings;
import org.apache.ratis.protocol.ClientId;
import org.apache.ratis.protocol.Message;
import org.apache.ratis.protocol.RaftClientReply;
import org.apache.ratis.protocol.RaftClientRequest;
import org.apache.ratis.protocol.RaftGroup;
import org.apache.ratis.protocol.RaftGroupId;
import org.apache.ratis.protocol.RaftPeer;
import org.apache.ratis.protocol.RaftPeerId;
import org.apache.ratis.server.RaftServer;
import org.apache.ratis.server.storage.RaftStorage;

/**
 * This node's Ratis server: a {@link RaftServer} over Netty in kvraft's one Raft group, started with
 * {@code RECOVER}, and the {@link Consensus} the database loop proposes to.
 *
 * <p>Proposals go in-process to {@link RaftServer#submitClientRequestAsync} under one client id per node boot and
 * increasing call ids chosen by the database loop (a pair is never reused, or Ratis's retry cache would answer with
 * an old reply). What the configuration says about the membership, a membership change's pieces, and on a learner
 * whether its leader still reaches it, are {@link RaftMembership}'s; this class makes the Ratis calls. Thread-safety:
 * every method may be called from any thread; state is final after {@link #start()}.
 */
public final class RaftNode implements Consensus, AutoCloseable {
  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(RaftNode.class);
  /** How long {@link #close} waits for Ratis to close. */
  static final java.time.Duration CLOSE_WAIT = java.time.Duration.ofSeconds(10);
  /** Every kvraft cluster is one Raft group with this fixed id. */
  public static final RaftGroupId GROUP_ID =
      RaftGroupId.valueOf(UUID.nameUUIDFromBytes("kvraft".getBytes(StandardCharsets.UTF_8)));

  private final ServerConfig config;
  /** Ratis's failures as kvraft errors naming this node. */
  private final RaftErrors errors;
  private final RaftPeerId selfId;
  private final ClientId clientId = ClientId.randomId();
  private final KvStateMachine stateMachine;
  private final RaftServer server;
  private volatile RaftServer.Division division;
  /** Read barriers: an empty entry (a read-index round only for a group's only voter and the commit notice). */
  private final ReadBarriers barriers;
  /** The membership as the configuration says it, a change's pieces, and whether a learner's leader reaches it. */
  private final RaftMembership membership;
  /** Starts membership changes, off the database loop and off Ratis's threads: {@code kvraft-raft-admin}. */
  private final java.util.concurrent.ExecutorService admin = java.util.concurrent.Executors.newSingleThreadExecutor(
      r -> Thread.ofPlatform().name("kvraft-raft-admin").daemon(true).unstarted(r));
  /** The TLS transport when tls.* is set, else null (plain Netty). */
  private final TlsNettyTransport tls;

  public RaftNode(ServerConfig config, StateMachineSink loop) throws IOException {
    this.config = config;
    this.errors = new RaftErrors(config.nodeId());
    this.selfId = RaftPeerId.valueOf(config.nodeId());
    this.membership = new RaftMembership(config, selfId, () -> division, this::followers);
    var ids = config.cluster().stream().map(PeerSpec::id).sorted().toList();
    this.stateMachine = new KvStateMachine(loop, clientId, config.dataDir().resolve("tmp"),
        config.snapshotThreshold(),
        SnapshotManager.phase(config.snapshotThreshold(), ids.indexOf(config.nodeId()), ids.size()),
        config.restore(), config.join(), this::configurationChanged);
    this.barriers = new ReadBarriers(this::submit, membership::soleVoter, stateMachine::forget);
    var peers = new ArrayList<RaftPeer>();
    for (var p : config.cluster()) {
      peers.add(RaftMembership.peer(p.id(), p.clientAddress(), p.peerAddress()));
    }
    // --join: an empty group; the node waits for the leader to add it (and then keeps the configuration it was
    // sent, like every node restarting from its log).
    var group = config.join() ? RaftGroup.valueOf(GROUP_ID, List.of()) : RaftGroup.valueOf(GROUP_ID, peers);
    var properties = RatisProperties.of(config);
    var parameters = new org.apache.ratis.conf.Parameters();
    if (config.tls().isPresent()) {
      // Mutual TLS between members: kvraft's own Netty transport (raft/tls), selected through raft.rpc.type.
      var files = config.tls().get();
      this.tls = TlsNettyTransport.load(TlsSettings.of(files.certFile(), files.keyFile(), files.caFile()));
      tls.bootstrapMembers(new java.util.HashSet<>(ids));
      tls.applyTo(properties, parameters);
    } else {
      this.tls = null;
    }
    this.server = RaftServer.newBuilder()
        .setServerId(selfId)
        .setGroup(group)
        .setStateMachine(stateMachine)
        .setProperties(properties)
        .setParameters(parameters)
        .setOption(RaftStorage.StartupOption.RECOVER)
        .build();
  }

  /**
   * After Ratis handed the state machine a configuration ({@link KvStateMachine#notifyConfigurationChanged}: an applied
   * configuration entry, on Ratis's updater thread, or the leader's configuration taken with a snapshot install, on
   * the thread handling the InstallSnapshot request): removed members' TLS channels are closed. Does not block.
   */
  private void configurationChanged() {
    if (tls != null) {
      tls.membershipChanged();
    }
  }

  public void start() throws IOException {
    try {
      server.start();
    } catch (IOException e) {
      // Ratis says only "n1: Failed to start NettyRpcService"; what failed is in the innermost cause.
      Throwable root = e;
      while (root.getCause() != null && root.getCause() != root) {
        root = root.getCause();
      }
      if (root instanceof java.net.BindException || String.valueOf(root.getMessage()).startsWith("bind(")) {
        throw new IOException("cannot listen for Raft peers on " + config.self().peerAddress() + ": "
            + root.getMessage() + " (is another kvraft or program using that port?)", e);
      }
      throw root == e ? e : new IOException(e.getMessage() + ": " + root.getMessage(), e);
    }
    division = server.getDivision(GROUP_ID);
  }

  @Override
  public CompletableFuture<?> propose(long callId, ByteString entry) {
    var message = Message.valueOf(org.apache.ratis.thirdparty.com.google.protobuf.UnsafeByteOperations
        .unsafeWrap(entry.asReadOnlyByteBuffer()));
    return submit(callId, message, RaftClientRequest.writeRequestType());
  }

  /**
   * A read barrier: completes once this node, still the leader after the barrier began, has applied everything
   * committed when it began: an empty entry, or on a group's only voter Ratis's read index ({@link ReadBarriers}).
   * The loop's thread only (the loop's reads and backups come through here). Its value, the commit index as the
   * barrier began, is read first: a read that arrived before the call needs nothing committed after it. A follower's
   * read waits for that index, not for the barrier's own entry, which it would learn is committed only with the
   * leader's next append.
   */
  @Override
  public CompletableFuture<Long> readBarrier(long callId) {
    var d = division;
    if (d == null || !d.getInfo().isLeader()) {
      return notLeader();
    }
    // Ready: this leader has applied the first entry of its term, so its commit index covers every earlier term's
    // entries. Good only if the barrier's entry commits in the same term: a node deposed and elected again meanwhile
    // might have missed writes another leader acknowledged in between, so it then answers with what it applied.
    long term = d.getInfo().getCurrentTerm();
    Long readIndex = d.getInfo().isLeaderReady() ? d.getRaftLog().getLastCommittedIndex() : null;
    return barriers.barrier(callId).thenApply(done -> d.getInfo().getCurrentTerm() == term ? readIndex : null);
  }

  private <T> CompletableFuture<T> notLeader() {
    // Over Netty a follower cannot take a read index itself (DESIGN.md): say "not leader" before Ratis tries.
    return CompletableFuture.failedFuture(new ConsensusException(Error.Code.UNAVAILABLE,
        "node " + config.nodeId() + " is not the leader", info().leaderId()));
  }

  /** Empty entries read barriers committed. */
  public long emptyBarriers() {
    return barriers.emptyEntries();
  }

  /**
   * A read-index round (never an empty entry) whose answer nobody needs: Ratis 3.3.0 answers a leader's read index
   * by sending every follower a heartbeat at once ({@code ReadIndexHeartbeats}), and a heartbeat carries the commit
   * index. Without it, the followers would learn of the leader's last commit only at the next heartbeat, up to half
   * the minimum election timeout later.
   */
  @Override
  public CompletableFuture<?> pushCommitIndex(long callId) {
    var d = division;
    if (d == null || !d.getInfo().isLeader()) {
      return notLeader();
    }
    // Never an empty entry: nobody reads by it, and it would be one more to notify.
    return barriers.round(callId);
  }

  private CompletableFuture<RaftClientReply> submit(long callId, Message message, RaftClientRequest.Type type) {
    var request = RaftClientRequest.newBuilder()
        .setClientId(clientId)
        .setServerId(selfId)
        .setGroupId(GROUP_ID)
        .setCallId(callId)
        .setMessage(message)
        .setType(type)
        .build();
    CompletableFuture<RaftClientReply> reply;
    try {
      reply = server.submitClientRequestAsync(request);
    } catch (IOException e) {
      return CompletableFuture.failedFuture(errors.translate(e));
    }
    return succeeded(reply);
  }

  @Override
  public CompletableFuture<?> transferLeadership(long callId, String targetId, long timeoutMs) {
    var request = new org.apache.ratis.protocol.TransferLeadershipRequest(clientId, selfId, GROUP_ID, callId,
        RaftPeerId.valueOf(targetId), timeoutMs);
    return succeeded(onAdmin(() -> server.transferLeadershipAsync(request)));
  }

  /** A Ratis admin call: one that returns a reply future. */
  private interface AdminCall {
    CompletableFuture<RaftClientReply> start() throws IOException;
  }

  /**
   * Starts {@code call} on {@code kvraft-raft-admin}: Ratis's admin calls (setConfiguration, transferLeadership) take
   * its server's lock before they return a future, so never on the database loop, and never on a Ratis thread that
   * may hold that lock (a completion that starts the next change would deadlock).
   */
  private CompletableFuture<RaftClientReply> onAdmin(AdminCall call) {
    return CompletableFuture.supplyAsync(() -> {
      try {
        return call.start();
      } catch (IOException e) {
        throw new CompletionException(errors.translate(e));
      }
    }, admin).thenCompose(f -> f);
  }

  /** A Ratis reply as a future that fails with a kvraft error (a ConsensusException) unless it succeeded. */
  private CompletableFuture<RaftClientReply> succeeded(CompletableFuture<RaftClientReply> reply) {
    return reply.handle((r, err) -> {
      if (err != null) {
        throw new CompletionException(errors.translate(Failures.cause(err)));
      }
      if (!r.isSuccess()) {
        throw new CompletionException(errors.translate(r.getException()));
      }
      return r;
    });
  }

  @Override
  public boolean wasAppended(long callId) {
    return stateMachine.wasAppended(callId);
  }

  @Override
  public void forget(long callId) {
    stateMachine.forget(callId);
  }

  @Override
  public long term() {
    var d = division;
    return d == null ? 0 : d.getInfo().getCurrentTerm();
  }

  @Override
  public boolean isLeader() {
    var d = division;
    return d != null && d.getInfo().isLeader();
  }

  @Override
  public boolean leaderKnown() {
    var d = division;
    if (d == null) {
      return false;
    }
    var info = d.getInfo();
    if (info.getLeaderId() == null) { // an atomic read in Ratis's ServerState, no lock
      membership.noLeader();
      return false;
    }
    // A cut-off leader steps down, and a voter with a follower timer stands for election, forgetting its leader; but a
    // learner, and a --join node added (and perhaps promoted) by the leader that still leads, have no such timer and
    // keep the id however long the leader has been quiet: there, the leader must also have reached it lately
    // (RaftMembership.leaderReaches).
    return membership.leaderReaches(info);
  }

  @Override
  public Info info() {
    var d = division;
    if (d == null) {
      return Info.UNKNOWN;
    }
    var i = d.getInfo();
    var leader = i.getLeaderId();
    var snapshot = stateMachine.getLatestSnapshot();
    return new Info(i.getCurrentRole().name(), i.getCurrentTerm(), leader == null ? "" : leader.toString(),
        d.getRaftLog().getLastCommittedIndex(), snapshot == null ? 0 : snapshot.getIndex());
  }

  @Override
  public List<Follower> followers() {
    var d = division;
    if (d == null || !d.getInfo().isLeader()) {
      return List.of();
    }
    var info = d.getInfo();
    // Both lists come from the leader's log appenders, in the same order. A leader without followers (one node)
    // answers null; a leader stepping down may fail: metrics and status then show no followers, never throw.
    List<org.apache.ratis.proto.RaftProtos.ServerRpcProto> ids;
    long[] match;
    try {
      ids = info.getRoleInfoProto().getLeaderInfo().getFollowerInfoList();
      match = info.getFollowerMatchIndices();
    } catch (RuntimeException e) {
      return List.of();
    }
    if (match == null || ids.size() != match.length) {
      return List.of(); // membership changed between the two reads; the next scrape sees it
    }
    var followers = new ArrayList<Follower>(match.length);
    for (int i = 0; i < match.length; i++) {
      followers.add(new Follower(ids.get(i).getId().getId().toStringUtf8(), match[i],
          ids.get(i).getLastRpcElapsedTimeMs()));
    }
    return followers;
  }

  /** See {@link RaftMembership#strayFollowers}; any thread. */
  public List<String> strayFollowers() {
    return membership.strayFollowers();
  }

  @Override
  public List<Member> members() {
    return membership.members();
  }

  /** The ids of {@link #members}, one set per configuration (see {@link RaftMembership#memberIds}); any thread. */
  public java.util.Set<String> memberIds() {
    return membership.memberIds();
  }

  @Override
  public CompletableFuture<?> changeMembers(long callId, List<Member> expected, List<Member> voters,
      List<Member> learners, long timeoutMs) {
    var request = new org.apache.ratis.protocol.SetConfigurationRequest(clientId, selfId, GROUP_ID, callId,
        RaftMembership.arguments(expected, voters, learners));
    var joining = RaftMembership.joining(expected, voters, learners);
    var reply = membership.counted(() -> onAdmin(() -> {
      for (var m : joining) {
        RaftMembership.checkReachable(m);
      }
      return server.setConfigurationAsync(request);
    }));
    return succeeded(reply).orTimeout(timeoutMs, TimeUnit.MILLISECONDS).handle((r, err) -> {
      if (err != null) {
        var cause = Failures.cause(err);
        if (cause instanceof java.util.concurrent.TimeoutException) {
          throw new CompletionException(RaftMembership.changeTimedOut(timeoutMs));
        }
        throw new CompletionException(cause instanceof ConsensusException ce ? ce : errors.translate(cause));
      }
      return r;
    });
  }

  /** See {@link RaftMembership#inOwnConfiguration}; any thread. */
  @Override
  public boolean inOwnConfiguration() {
    return membership.inOwnConfiguration();
  }

  /** See {@link RaftMembership#removed}; any thread. */
  public boolean removed() {
    return membership.removed();
  }

  /**
   * Whether Ratis closed this node because a leader election found it is not a member: a vote reply said
   * {@code shouldShutdown} (the leader's committed configuration leaves it out) while its own log had not reached its
   * removal, or its own configuration leaves it out. Not a learner its own configuration lists: Ratis's election
   * closes one that stood for election as NOT_IN_CONF too, and a restart brings it back as a learner
   * ({@link RaftMembership#learnerInOwnConfiguration}). Waits up to {@code grace} for Ratis's notice, which follows its
   * close; false at once for a node Ratis still runs. For the watchdog, off the database loop.
   */
  public boolean closedAsNonMember(java.time.Duration grace) throws InterruptedException {
    return !isAlive() && !membership.learnerInOwnConfiguration() && stateMachine.closedByElection(grace);
  }

  /** {@link #closedAsNonMember(java.time.Duration)} as it is now, without waiting; any thread. */
  public boolean closedAsNonMember() {
    return !isAlive() && !membership.learnerInOwnConfiguration() && stateMachine.closedByElectionNow();
  }

  /** See {@link RaftMembership#committedMember}; any thread. */
  public boolean committedMember() {
    return membership.committedMember();
  }

  /** Snapshots this node wrote since start; any thread. */
  public SnapshotManager.Stats snapshotStats() {
    return stateMachine.snapshots().stats();
  }

  /** How many times this node saw a new leader elected since it started; any thread. */
  public long leaderChanges() {
    return stateMachine.leaderChanges();
  }

  /** The applied index Ratis reports (the last entry the state machine finished); any thread. */
  public long ratisAppliedIndex() {
    var d = division;
    return d == null ? -1 : d.getInfo().getLastAppliedIndex();
  }

  /** False once Ratis's server for the group has failed or closed (it does not come back by itself). */
  public boolean isAlive() {
    var d = division;
    // A failed log write (a full disk, say) closes the Raft log but leaves the division "alive" and unable to do
    // anything: count that as dead too.
    return d == null || (d.getInfo().isAlive() && d.getRaftLog().isOpened());
  }

  /** Whether the Raft transport runs over mutual TLS. */
  public boolean tlsOn() {
    return tls != null;
  }

  /**
   * Builds the Raft transport's TLS contexts from {@code m} (the files as the node read them once for both its ports)
   * and returns what installs them; on failure nothing changes.
   */
  public Runnable prepareTlsReload(dev.kvraft.proto.PemTls.Material m) throws IOException {
    return tls == null ? () -> { } : tls.prepareReload(m);
  }

  /** This node's snapshot writer, for the database loop's on-demand snapshots. */
  public dev.kvraft.server.db.Snapshotter snapshotter() {
    return stateMachine.snapshots();
  }

  /**
   * Closes Ratis, waiting at most {@link #CLOSE_WAIT} for it. Ratis 3.3.0 can hang in its close: the log closes under
   * its write lock and waits for its cache-eviction thread, which may be waiting for that same lock. A stop must not
   * hang on that (the process exits after it; systemd would otherwise wait for its stop timeout), so past the wait
   * this says so and goes on, leaving Ratis's threads behind.
   */
  @Override
  public void close() throws IOException {
    admin.shutdownNow();
    var failure = new java.util.concurrent.atomic.AtomicReference<IOException>();
    var closing = Thread.ofPlatform().name("kvraft-raft-close").daemon().start(() -> {
      try {
        server.close();
      } catch (IOException e) {
        failure.set(e);
      }
    });
    try {
      if (!closing.join(CLOSE_WAIT)) {
        LOG.error("node {}: Ratis did not close within {} s (a known Ratis hang: its log's close waits for its"
            + " cache-eviction thread, which waits for the log's lock); stopping without it. Every"
            + " acknowledged write is already on disk", config.nodeId(), CLOSE_WAIT.toSeconds());
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    if (failure.get() != null) {
      throw failure.get();
    }
  }
}
