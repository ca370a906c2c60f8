package dev.kvraft.server.raft;

import dev.kvraft.proto.Error;
import dev.kvraft.server.config.PeerSpec;
import dev.kvraft.server.config.ServerConfig;
import dev.kvraft.server.db.Consensus.Follower;
import dev.kvraft.server.db.Consensus.Member;
import dev.kvraft.server.db.ConsensusException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.apache.ratis.metrics.impl.DefaultTimekeeperImpl;
import org.apache.ratis.proto.RaftProtos.RaftPeerRole;
import org.apache.ratis.protocol.RaftClientReply;
import org.apache.ratis.protocol.RaftPeer;
import org.apache.ratis.protocol.RaftPeerId;
import org.apache.ratis.protocol.SetConfigurationRequest;
import org.apache.ratis.server.DivisionInfo;
import org.apache.ratis.server.RaftConfiguration;
import org.apache.ratis.server.RaftServer;
import org.apache.ratis.server.metrics.RaftServerMetricsImpl;

/**
 * What Raft's configuration says about the membership, and the pieces of a membership change: the members (cached per
 * configuration object), whether this node was removed or is a committed member, the followers a leader still
 * replicates to after their removal, a change's compare-and-set arguments, the check that new members take
 * connections, and the answer when a change outlasts its timeout. {@link RaftNode} makes the Ratis calls with them, on
 * its {@code kvraft-raft-admin} thread, since they share its admin thread and error translation with its other calls.
 * Also, on a node without a follower timer, whether its leader still reaches it ({@link #leaderReaches}, for
 * {@link RaftNode#leaderKnown}).
 *
 * <p>Thread-safety: any thread. {@link #membersView} is replaced whole; {@link #changesUnderWay} is counted up by the
 * thread that starts a change and down by the Ratis thread that answers it; {@link #checkedAt}, {@link #reached},
 * {@link #appendsSeen}, {@link #leaderSeen}, {@link #termSeen} and {@link #appendsMovedAt} are written by
 * {@link #leaderReaches}'s caller (the database loop's thread); the rest is final. The division is
 * {@link RaftNode}'s, null until Raft starts.
 */
final class RaftMembership {
  private final ServerConfig config;
  private final RaftPeerId selfId;
  private final Supplier<RaftServer.Division> division;
  private final Supplier<List<Follower>> followers;
  /** Ratis setConfiguration calls started here and not answered yet (a staged node is followed before it is in). */
  private final AtomicInteger changesUnderWay = new AtomicInteger();
  /** The configuration {@link #members} was computed from, and the answer (replaced whole; any thread). */
  private volatile MembersView membersView;
  /** {@link #leaderReaches}: when it last looked, and its answer (owned by its caller, the loop's thread). */
  private volatile long checkedAt = System.nanoTime() - CHECK_NANOS;
  private volatile boolean reached = true;
  /**
   * {@link #leaderReaches}: the count of appendEntries Ratis had handled when it last looked, the leader id and term
   * it saw then, and when it last saw any of them change (owned by its caller, the loop's thread; -1, null and -1
   * before the first look).
   */
  private volatile long appendsSeen = -1;
  private volatile RaftPeerId leaderSeen;
  private volatile long termSeen = -1;
  private volatile long appendsMovedAt;
  private static final long CHECK_NANOS = java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(100);

  /** The members of one configuration, and their ids (what the leader checks a forwarding certificate against). */
  private record MembersView(RaftConfiguration conf, List<Member> members, java.util.Set<String> ids) {}

  RaftMembership(ServerConfig config, RaftPeerId selfId, Supplier<RaftServer.Division> division,
      Supplier<List<Follower>> followers) {
    this.config = config;
    this.selfId = selfId;
    this.division = division;
    this.followers = followers;
  }

  /** A Ratis peer carrying both addresses: the configuration then tells every node where members take clients. */
  static RaftPeer peer(String id, String clientAddress, String peerAddress) {
    return RaftPeer.newBuilder().setId(id).setAddress(peerAddress).setClientAddress(clientAddress).build();
  }

  /** See {@link dev.kvraft.server.db.Consensus#members}. */
  List<Member> members() {
    var d = division.get();
    if (d == null) {
      return config.cluster().stream().map(p -> new Member(p.id(), p.clientAddress(), p.peerAddress(), true))
          .toList();
    }
    return view(d.getRaftConf()).members();
  }

  /**
   * The ids of {@link #members}, made once per configuration: read at every request on a client connection with a
   * certificate (net.Members). Any thread.
   */
  java.util.Set<String> memberIds() {
    var d = division.get();
    if (d == null) {
      return ids(members());
    }
    return view(d.getRaftConf()).ids();
  }

  private MembersView view(RaftConfiguration conf) {
    var view = membersView;
    if (view != null && view.conf() == conf) {
      return view;
    }
    var list = new ArrayList<Member>();
    conf.getCurrentPeers().stream().map(p -> member(p, true)).sorted(java.util.Comparator.comparing(Member::id))
        .forEach(list::add);
    conf.getCurrentPeers(RaftPeerRole.LISTENER).stream().map(p -> member(p, false))
        .sorted(java.util.Comparator.comparing(Member::id)).forEach(list::add);
    var members = List.copyOf(list);
    view = new MembersView(conf, members, ids(members));
    membersView = view;
    return view;
  }

  private static java.util.Set<String> ids(List<Member> members) {
    return members.stream().map(Member::id).collect(java.util.stream.Collectors.toUnmodifiableSet());
  }

  /** A configuration's peer as a member; a bootstrap configuration from before client addresses were stored in it
   * takes the address from the cluster setting. */
  private Member member(RaftPeer p, boolean voter) {
    var id = p.getId().toString();
    var client = p.getClientAddress();
    if (client == null || client.isEmpty()) {
      client = config.peer(id).map(PeerSpec::clientAddress).orElse("");
    }
    return new Member(id, client, p.getAddress(), voter);
  }

  /**
   * The arguments of a compare-and-set change that makes the configuration exactly {@code voters} and
   * {@code learners} if it still is {@code expected}.
   */
  static SetConfigurationRequest.Arguments arguments(List<Member> expected, List<Member> voters,
      List<Member> learners) {
    java.util.function.Function<List<Member>, List<RaftPeer>> peers = list -> list.stream()
        .map(m -> peer(m.id(), m.clientAddress(), m.peerAddress())).toList();
    return SetConfigurationRequest.Arguments.newBuilder()
        .setMode(SetConfigurationRequest.Mode.COMPARE_AND_SET)
        .setServersInCurrentConf(peers.apply(expected.stream().filter(Member::voter).toList()))
        .setListenersInCurrentConf(peers.apply(expected.stream().filter(m -> !m.voter()).toList()))
        .setServersInNewConf(peers.apply(voters))
        .setListenersInNewConf(peers.apply(learners))
        .build();
  }

  /** The members a change to {@code voters} and {@code learners} adds to {@code expected}. */
  static List<Member> joining(List<Member> expected, List<Member> voters, List<Member> learners) {
    var joining = new ArrayList<Member>(voters);
    joining.addAll(learners);
    joining.removeIf(m -> expected.stream().anyMatch(e -> e.id().equals(m.id())));
    return joining;
  }

  /**
   * Counts the change that {@code start} starts as under way until Ratis answers it (not until the caller's
   * timeout), from before it is started: {@link #strayFollowers} must not take its staged nodes for strays.
   */
  CompletableFuture<RaftClientReply> counted(Supplier<CompletableFuture<RaftClientReply>> start) {
    changesUnderWay.incrementAndGet();
    var reply = start.get();
    reply.whenComplete((r, e) -> changesUnderWay.decrementAndGet()); // Ratis's answer, not this call's timeout
    return reply;
  }

  /**
   * A change this node stopped waiting for: Ratis goes on with it (staging a new node lasts as long as its catch-up
   * makes progress, a snapshot install of a large store included), so it may still commit.
   */
  static ConsensusException changeTimedOut(long timeoutMs) {
    return new ConsensusException(Error.Code.TIMEOUT, "the membership change did not finish within " + timeoutMs
        + " ms (is the new node running with --join, and reachable at its peer address? a large store takes a while"
        + " to reach it); Raft may still commit it: look at 'member list' before trying again", "");
  }

  /**
   * A member about to be added must take connections on its peer port before Ratis stages it. Ratis 3.3.0 fails
   * the staging of a silent node after raft.server.staging.timeout, but a second attempt at the same silent node
   * stays staging for good, and every later change is then refused as "in progress" (seen in MembershipTest). So a
   * node that is not there is refused here, quickly and with a clear message (CONFLICT: not applied, and not worth
   * retrying until the node runs), and Ratis never stages it.
   */
  static void checkReachable(Member m) {
    var hp = dev.kvraft.proto.HostPort.parse(m.peerAddress());
    try (var s = new java.net.Socket()) {
      s.connect(new java.net.InetSocketAddress(hp.host(), hp.port()), 1000);
    } catch (IOException e) {
      // CONFLICT, not UNAVAILABLE: clients retry UNAVAILABLE until their timeout, and asking again cannot help until
      // someone starts the node (kvsh --timeout 30 kept asking for 30 s).
      throw new CompletionException(new ConsensusException(Error.Code.CONFLICT, "'" + m.id() + "' does not take"
          + " connections on its peer address " + m.peerAddress() + " (" + e.getMessage() + "): start it with --join"
          + " first; the membership is unchanged", ""));
    }
  }

  /**
   * On the leader, the followers it replicates to that are not in its configuration: left over from the previous
   * one by a leader elected in the middle of a membership change (Ratis 3.3.0). Such a leader finds the change's
   * joint configuration in its log, and its start-up entry makes the new configuration stable, but it keeps a log
   * appender for every peer of the old one. So a removed node keeps receiving the log (it never times out, never
   * learns of its removal, never exits), and adding it again fails in Ratis ("Found duplicated element"), for as
   * long as this node leads. Empty when not leading, and while a change started here is under way (Ratis then
   * replicates to the nodes it stages, before they are in the configuration); any thread.
   */
  List<String> strayFollowers() {
    var d = division.get();
    if (d == null || !d.getInfo().isLeader() || changesUnderWay.get() > 0) {
      return List.of();
    }
    var conf = d.getRaftConf();
    if (!conf.getPreviousPeers().isEmpty()) {
      return List.of(); // a joint configuration: the old one's peers are still members
    }
    return followers.get().stream().map(Follower::id)
        .filter(id -> conf.getPeer(RaftPeerId.valueOf(id), RaftPeerRole.FOLLOWER, RaftPeerRole.LISTENER) == null)
        .toList();
  }

  /**
   * Whether this node is not in the configuration it last knew (the one being moved to, during a change): it was
   * removed. (Ratis then closes its server, and the node should stop serving and exit 0 rather than be restarted.)
   */
  boolean removed() {
    var d = division.get();
    if (d == null) {
      return false;
    }
    return removedFrom(d.getRaftConf(), selfId);
  }

  /**
   * Whether this node's own configuration names it, a voter or a learner, in its current peers (the configuration
   * being moved to, during a change), as the leader's {@link #members} does when it checks a forward's certificate:
   * false before Raft runs, on a node started with --join until a member add reaches it, and on one being removed.
   * Any thread.
   */
  boolean inOwnConfiguration() {
    var d = division.get();
    return d != null && names(d.getRaftConf(), selfId);
  }

  /**
   * Whether this node's own configuration lists it as a learner (a Ratis listener). Such a node may still run with
   * Ratis's FOLLOWER role (one started with --join keeps it until restarted), stand for election when its leader goes
   * quiet, and be closed by its own election as NOT_IN_CONF (the election counts voters only): that is not a removal.
   */
  boolean learnerInOwnConfiguration() {
    var d = division.get();
    return d != null && lists(d.getRaftConf().getCurrentPeers(RaftPeerRole.LISTENER), selfId);
  }

  /**
   * Whether this node is its group's only voter, with no configuration change under way: no other node can lead.
   * This node itself: a leader removing itself from two voters leads until the configuration naming the other alone
   * commits, and that other may already lead by it. Any thread.
   */
  boolean soleVoter() {
    var d = division.get();
    if (d == null) {
      return false;
    }
    var conf = d.getRaftConf();
    var voters = conf.getCurrentPeers(RaftPeerRole.FOLLOWER);
    return voters.size() == 1 && lists(voters, selfId) && conf.getPreviousPeers().isEmpty();
  }

  /**
   * Whether the leader {@code info} names (not null: the caller checked) still reaches this node. On the leader itself,
   * and on a voter with a follower timer, Ratis's id is the answer: cut off, a leader steps down and such a voter
   * stands for election, and either forgets the id. A node without that timer keeps the id however long the leader is
   * gone: a learner never stands for election (a listener), and a node added after --join keeps Ratis's FOLLOWER role
   * in its STARTING state, with no follower timer at all, until a leader elected after the add writes to it (Ratis
   * 3.3.0 starts the timer, and moves the node to RUNNING, only on an appendEntries that is not "initializing", and it
   * marks only a node staged as a voter caught up); a promotion by the same leader gives it none either, so such a
   * voter never stands for election and names its old leader for good (two voters, n1 and a promoted n2, and n1
   * stops: PromotedJoinedVoterWatchTest). Ratis's role info cannot tell: without a timer it reports the leader's last
   * contact as 0 ms ago. So on a learner (by its own configuration, or by Ratis's LISTENER role) and on a node still
   * STARTING, the answer is whether Ratis handled an appendEntries from a leader, a heartbeat or not, within one
   * maximum election timeout, or saw a new leader id or term (Ratis takes a leader id only from a leader's request,
   * or on leading). A voter with a timer is left to Ratis on purpose: the count stands still during a snapshot
   * install (the leader sends no appendEntries until the last chunk is answered) and during one slow append (the next
   * waits for it), where Ratis's timer rightly holds the leader.
   *
   * <p>The first look after start, the first under a new leader id or term, and the first after a look that found
   * no leader id ({@link #noLeader}) count as a move: the first answer once a leader is known again is never "no
   * leader" for a count that stood still while there was none.
   *
   * <p>If Ratis's metrics are not its default implementation (no count), a node without a timer reads the role
   * info's last contact, which a node without a timer fools (its watches stay open).
   *
   * <p>Looks at most every {@link #CHECK_NANOS} (it reads the configuration) and answers as of then in between, so a
   * move of the count is seen that much late at most; a new leader id or term is looked at at once, and the leader's
   * own answer is never late.
   */
  boolean leaderReaches(DivisionInfo info) {
    long now = System.nanoTime();
    var leader = info.getLeaderId(); // both atomic reads in Ratis's ServerState, no lock
    long term = info.getCurrentTerm();
    boolean newLeader = term != termSeen || !java.util.Objects.equals(leader, leaderSeen);
    if (newLeader || now - checkedAt >= CHECK_NANOS) {
      checkedAt = now;
      long appends = appendEntriesHandled();
      if (newLeader || appends != appendsSeen) {
        appendsSeen = appends;
        leaderSeen = leader;
        termSeen = term;
        appendsMovedAt = now;
      }
      long bound = config.electionTimeoutMax().toNanos();
      boolean timerless = info.isListener() || learnerInOwnConfiguration()
          || info.getLifeCycleState() == org.apache.ratis.util.LifeCycle.State.STARTING;
      if (!timerless) {
        reached = true;
      } else if (appends >= 0) {
        reached = now - appendsMovedAt <= bound;
      } else {
        reached = info.getRoleInfoProto().getFollowerInfo().getLeaderInfo().getLastRpcElapsedTimeMs() * 1_000_000
            <= bound;
      }
    }
    return info.isLeader() || reached;
  }

  /**
   * The caller found no leader id: whichever id comes next counts as contact (Ratis sets one only from that leader's
   * request, or on leading), also the same id at the same term after a failed pre-vote.
   */
  void noLeader() {
    leaderSeen = null;
  }

  /**
   * How many appendEntries from a leader, heartbeats included, Ratis has handled on this division: the counts of its
   * two {@code follower_append_entry_latency} timers. Ratis 3.3.0's {@code RaftServerImpl.appendEntriesAsync} times
   * each appendEntries from a leader it recognises, with a follower timer or without, and stops the timer once the
   * entries are appended (one it turns away, NOT_LEADER or INCONSISTENCY, is not counted). Two sums of counters, no
   * lock. -1 if Ratis's metrics are not its default implementation (then {@link #leaderReaches} reads the role info).
   */
  private long appendEntriesHandled() {
    var d = division.get();
    if (d != null && d.getRaftServerMetrics() instanceof RaftServerMetricsImpl m
        && m.getFollowerAppendEntryTimer(true) instanceof DefaultTimekeeperImpl heartbeats
        && m.getFollowerAppendEntryTimer(false) instanceof DefaultTimekeeperImpl appends) {
      return heartbeats.getTimer().getCount() + appends.getTimer().getCount();
    }
    return -1;
  }

  /**
   * Whether {@code conf} leaves {@code self} out: no voter nor learner of the configuration it is moving to (during a
   * change, the previous one may still list it: Ratis has stopped it by then all the same). An empty configuration
   * (--join, not added yet) leaves nobody out.
   */
  static boolean removedFrom(RaftConfiguration conf, RaftPeerId self) {
    return !conf.getAllPeers().isEmpty() && !names(conf, self);
  }

  /** Whether {@code conf}'s current peers name {@code self}, as a voter or a learner. */
  private static boolean names(RaftConfiguration conf, RaftPeerId self) {
    return lists(conf.getCurrentPeers(RaftPeerRole.FOLLOWER), self)
        || lists(conf.getCurrentPeers(RaftPeerRole.LISTENER), self);
  }

  private static boolean lists(java.util.Collection<RaftPeer> peers, RaftPeerId id) {
    return peers.stream().anyMatch(p -> p.getId().equals(id));
  }

  /**
   * Whether Raft runs and its configuration names this node (a voter or a learner) and is committed: this node is a
   * member for sure, not a node being added whose change a leader change may still undo. Unlike {@link #members},
   * never the cluster setting's guess before Raft runs; any thread.
   */
  boolean committedMember() {
    var d = division.get();
    if (d == null) {
      return false;
    }
    var conf = d.getRaftConf();
    return !conf.getAllPeers().isEmpty() && !removedFrom(conf, selfId)
        && conf.getLogEntryIndex() <= d.getRaftLog().getLastCommittedIndex();
  }
}
