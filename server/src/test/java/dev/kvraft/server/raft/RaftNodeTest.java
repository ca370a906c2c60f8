package dev.kvraft.server.raft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvraft.proto.Error;
import dev.kvraft.server.KvraftServer;
import dev.kvraft.server.testing.TestNodes;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RaftNodeTest {
  /**
   * A membership change this node stopped waiting for goes on in Raft (a slow catch-up of the new node is not a
   * failure to Ratis) and may commit later: the operator is told to look before trying again,
   * not that nothing changed.
   */
  @Test
  void aMembershipChangeThatTimedOutSaysItMayStillCommitAndWhatToDo() {
    var e = RaftMembership.changeTimedOut(5000);
    assertEquals(Error.Code.TIMEOUT, e.code());
    assertFalse(e.getMessage().contains("unchanged"), e.getMessage());
    assertTrue(e.getMessage().contains("may still commit") && e.getMessage().contains("member list"),
        e.getMessage());
  }

  /** A Raft port in use stops the node with a message naming the port and the cause, as the client port's does. */
  @Test
  void aRaftPortInUseIsNamed(@TempDir Path dir) throws IOException {
    var config = TestNodes.single(dir);
    var peer = config.self().peerAddress();
    try (var taken = new ServerSocket(config.self().peerPort(), 1, InetAddress.getByName("127.0.0.1"))) {
      var e = org.junit.jupiter.api.Assertions.assertThrows(IOException.class, () -> KvraftServer.start(config));
      assertTrue(e.getMessage().contains("cannot listen for Raft peers on " + peer + ": ")
          && e.getMessage().contains("Address already in use"), e.getMessage());
    }
  }

  /**
   * Found while testing TLS removal: Ratis stops a follower once a configuration leaves it out, and the joint
   * configuration of that change still lists it among the previous peers. removed() looked it up in both, so the
   * watchdog took the stopped node for failed, not removed, and halted it with status 1 (Restart=on-failure then
   * restarts a node the cluster has dropped) unless the leader's notice came first.
   */
  @Test
  void aNodeLeftOutOfTheNewestConfigurationIsRemovedEvenWhileTheOldOneListsIt() {
    var n1 = org.apache.ratis.protocol.RaftPeerId.valueOf("n1");
    var joint = new Conf(java.util.List.of("n2", "n3"), java.util.List.of(), java.util.List.of("n1", "n2", "n3"));
    assertTrue(RaftMembership.removedFrom(joint, n1), "left out of the configuration being moved to");
    assertFalse(RaftMembership.removedFrom(new Conf(java.util.List.of("n1", "n2"), java.util.List.of(), java.util.List.of()),
        n1), "a voter");
    assertFalse(RaftMembership.removedFrom(new Conf(java.util.List.of("n2"), java.util.List.of("n1"), java.util.List.of()),
        n1), "a learner");
    assertFalse(RaftMembership.removedFrom(new Conf(java.util.List.of("n1", "n2"), java.util.List.of(),
        java.util.List.of("n2")), n1), "being added");
    assertFalse(RaftMembership.removedFrom(new Conf(java.util.List.of(), java.util.List.of(), java.util.List.of()), n1),
        "no configuration yet (--join)");
  }

  /**
   * Ratis 3.3.0 closes a candidate whose vote request a leader answered with shouldShutdown (or whose own
   * configuration leaves it out) and then tells the state machine, allServer false, in the candidate's role: that
   * counts as closed for not being a member. Our own close (allServer true) and a notice in another role do not, so
   * the watchdog keeps treating those as failures (exit 1).
   */
  @Test
  void onlyAnElectionsCloseOfACandidateCountsAsClosedForNotBeingAMember(@TempDir Path dir) throws Exception {
    java.util.function.BiFunction<org.apache.ratis.proto.RaftProtos.RaftPeerRole, Boolean, Boolean> counted =
        (role, allServer) -> {
          var sm = new KvStateMachine(null, org.apache.ratis.protocol.ClientId.randomId(), dir, 100, 0,
              java.util.Optional.empty(), false, () -> { });
          sm.notifyServerShutdown(org.apache.ratis.proto.RaftProtos.RoleInfoProto.newBuilder().setRole(role)
              .setSelf(org.apache.ratis.protocol.RaftPeer.newBuilder().setId("n3").build().getRaftPeerProto())
              .build(), allServer);
          try {
            return sm.closedByElection(java.time.Duration.ZERO);
          } catch (InterruptedException e) {
            throw new AssertionError(e);
          }
        };
    assertTrue(counted.apply(org.apache.ratis.proto.RaftProtos.RaftPeerRole.CANDIDATE, false), "the election's close");
    assertFalse(counted.apply(org.apache.ratis.proto.RaftProtos.RaftPeerRole.CANDIDATE, true), "the server's close");
    assertFalse(counted.apply(org.apache.ratis.proto.RaftProtos.RaftPeerRole.FOLLOWER, true), "our own close");
    assertFalse(counted.apply(org.apache.ratis.proto.RaftProtos.RaftPeerRole.FOLLOWER, false), "not a candidate");
    assertFalse(counted.apply(org.apache.ratis.proto.RaftProtos.RaftPeerRole.LEADER, false), "not a candidate");
  }

  /**
   * Without Ratis's default metrics there is no appendEntries count (appendEntriesHandled is -1): a voter with a
   * follower timer (RUNNING) trusts the leader id however long ago the leader last reached it, as it does with the
   * count; a node without that timer (a learner, by its own configuration or by Ratis's LISTENER role, or a voter
   * still STARTING after --join) reads the role info's last contact, which such a node fools (the documented gap);
   * the leader always knows one. A fresh RaftMembership for each answer: it looks at most every 100 ms and answers as
   * of its last look in between.
   */
  @Test
  void withoutRatissDefaultMetricsAVoterTrustsTheLeaderIdAndANodeWithoutATimerReadsTheRoleInfo(@TempDir Path dir) {
    var config = TestNodes.single(dir); // n1; the bound is its maximum election timeout
    long quietMs = 10 * config.electionTimeoutMax().toMillis();
    var self = org.apache.ratis.protocol.RaftPeerId.valueOf("n1");
    var asVoter = new Conf(java.util.List.of("n1", "n2"), java.util.List.of(), java.util.List.of());
    var asLearner = new Conf(java.util.List.of("n2"), java.util.List.of("n1"), java.util.List.of());
    var follower = org.apache.ratis.proto.RaftProtos.RaftPeerRole.FOLLOWER;
    var listener = org.apache.ratis.proto.RaftProtos.RaftPeerRole.LISTENER;
    var leader = org.apache.ratis.proto.RaftProtos.RaftPeerRole.LEADER;
    java.util.function.BiFunction<Conf, Info, Boolean> reaches = (conf, info) -> new RaftMembership(config, self,
        () -> division(conf), java.util.List::of).leaderReaches(info);

    var running = org.apache.ratis.util.LifeCycle.State.RUNNING;
    var starting = org.apache.ratis.util.LifeCycle.State.STARTING;

    assertTrue(reaches.apply(asVoter, new Info(follower, running, "n2", quietMs)), "a voter with a timer trusts the id");
    assertFalse(reaches.apply(asVoter, new Info(follower, starting, "n2", quietMs)), "a voter still STARTING");
    assertTrue(reaches.apply(asVoter, new Info(follower, starting, "n2", 0)), "a STARTING voter just reached");
    assertFalse(reaches.apply(asLearner, new Info(follower, running, "n2", quietMs)), "a learner by its configuration");
    assertTrue(reaches.apply(asLearner, new Info(follower, running, "n2", 0)), "a learner its leader just reached");
    assertFalse(reaches.apply(asLearner, new Info(listener, running, "n2", quietMs)), "a listener");
    assertTrue(reaches.apply(asVoter, new Info(leader, running, "n1", 0)), "the leader");
  }

  /** A division whose metrics are not Ratis's default implementation; nothing else is asked of it. */
  private static org.apache.ratis.server.RaftServer.Division division(Conf conf) {
    org.apache.ratis.server.metrics.RaftServerMetrics metrics = () -> { };
    return (org.apache.ratis.server.RaftServer.Division) java.lang.reflect.Proxy.newProxyInstance(
        RaftNodeTest.class.getClassLoader(), new Class<?>[] {org.apache.ratis.server.RaftServer.Division.class},
        (proxy, method, args) -> switch (method.getName()) {
          case "getRaftServerMetrics" -> metrics;
          case "getRaftConf" -> conf;
          default -> throw new UnsupportedOperationException(method.getName());
        });
  }

  /** What Ratis's DivisionInfo answers: a role, a life-cycle state, a leader id, and the last contact with it. */
  private record Info(org.apache.ratis.proto.RaftProtos.RaftPeerRole role, org.apache.ratis.util.LifeCycle.State state,
      String leader, long lastRpcElapsedMs)
      implements org.apache.ratis.server.DivisionInfo {
    @Override
    public org.apache.ratis.proto.RaftProtos.RaftPeerRole getCurrentRole() {
      return role;
    }

    @Override
    public org.apache.ratis.protocol.RaftPeerId getLeaderId() {
      return org.apache.ratis.protocol.RaftPeerId.valueOf(leader);
    }

    @Override
    public long getCurrentTerm() {
      return 1;
    }

    @Override
    public org.apache.ratis.proto.RaftProtos.RoleInfoProto getRoleInfoProto() {
      return org.apache.ratis.proto.RaftProtos.RoleInfoProto.newBuilder().setRole(role).setFollowerInfo(
          org.apache.ratis.proto.RaftProtos.FollowerInfoProto.newBuilder().setLeaderInfo(
              org.apache.ratis.proto.RaftProtos.ServerRpcProto.newBuilder().setLastRpcElapsedTimeMs(lastRpcElapsedMs)))
          .build();
    }

    @Override
    public boolean isLeaderReady() {
      throw new UnsupportedOperationException();
    }

    @Override
    public org.apache.ratis.util.LifeCycle.State getLifeCycleState() {
      return state;
    }

    @Override
    public long getLastAppliedIndex() {
      throw new UnsupportedOperationException();
    }

    @Override
    public long[] getFollowerNextIndices() {
      throw new UnsupportedOperationException();
    }

    @Override
    public long[] getFollowerMatchIndices() {
      throw new UnsupportedOperationException();
    }
  }

  /** A Ratis configuration as RaftConfigurationImpl answers (getPeer looks in the current one, then the previous). */
  private record Conf(java.util.List<String> voters, java.util.List<String> learners, java.util.List<String> previous)
      implements org.apache.ratis.server.RaftConfiguration {
    private static java.util.List<org.apache.ratis.protocol.RaftPeer> peers(java.util.List<String> ids) {
      return ids.stream().map(id -> org.apache.ratis.protocol.RaftPeer.newBuilder().setId(id).build()).toList();
    }

    @Override
    public org.apache.ratis.protocol.RaftPeer getPeer(org.apache.ratis.protocol.RaftPeerId id,
        org.apache.ratis.proto.RaftProtos.RaftPeerRole... roles) {
      for (var list : java.util.List.of(getCurrentPeers(roles[0]), roles.length > 1 ? getCurrentPeers(roles[1])
          : java.util.List.<org.apache.ratis.protocol.RaftPeer>of(), getPreviousPeers(roles[0]))) {
        for (var p : list) {
          if (p.getId().equals(id)) {
            return p;
          }
        }
      }
      return null;
    }

    @Override
    public java.util.Collection<org.apache.ratis.protocol.RaftPeer> getAllPeers(
        org.apache.ratis.proto.RaftProtos.RaftPeerRole role) {
      var all = new java.util.LinkedHashSet<>(getCurrentPeers(role));
      all.addAll(getPreviousPeers(role));
      return all;
    }

    @Override
    public java.util.Collection<org.apache.ratis.protocol.RaftPeer> getCurrentPeers(
        org.apache.ratis.proto.RaftProtos.RaftPeerRole role) {
      return peers(role == org.apache.ratis.proto.RaftProtos.RaftPeerRole.LISTENER ? learners : voters);
    }

    @Override
    public java.util.Collection<org.apache.ratis.protocol.RaftPeer> getPreviousPeers(
        org.apache.ratis.proto.RaftProtos.RaftPeerRole role) {
      return role == org.apache.ratis.proto.RaftProtos.RaftPeerRole.LISTENER ? java.util.List.of() : peers(previous);
    }

    @Override
    public long getLogEntryIndex() {
      return 1;
    }
  }
}
