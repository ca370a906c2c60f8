package dev.kvraft.robust;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvraft.proto.Member;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A membership change cut short by a leader change, on three server processes: found by the robustness suite's
 * {@code membership-leader-kill} scenario. A leader elected with the change's joint configuration in its log makes
 * the new configuration stable but, in Ratis 3.3.0, keeps replicating to the node the change removed. That node then
 * never learned it was removed (it never exited), and adding it again failed with an internal Ratis error for as long
 * as that leader led.
 */
@Timeout(300)
@Tag("slow") // processes: not in bin/test --fast
class MembershipLeaderChangeTest {
  @TempDir
  Path dir;

  @Test
  void aNodeRemovedAcrossALeaderChangeStopsAndCanBeAddedAgain() throws Exception {
    try (var cluster = Cluster.onLoopback(dir, 3).startAll()) {
      var leader = cluster.awaitLeader(Duration.ofSeconds(60));
      var others = new ArrayList<>(cluster.ids());
      others.remove(leader);
      var down = others.get(0);
      var removed = others.get(1);
      // The removed node must not win the election below: it waits 8 s or more before it stands.
      cluster.kill(removed);
      cluster.start(removed, "--raft.election.timeout.min.ms=8000", "--raft.election.timeout.max.ms=9000");
      cluster.awaitServing(removed, Duration.ofSeconds(90));
      assertEquals(leader, cluster.awaitLeader(Duration.ofSeconds(30)), "the leader changed before the test began");

      // With `down` stopped, the removal cannot commit: its new configuration, {leader, down}, needs `down`.
      cluster.kill(down);
      var removal = Thread.ofPlatform().name("test-member-remove").start(() -> {
        try (var c = cluster.client(cluster.address(leader)).discoverMembers(false)
            .timeout(Duration.ofSeconds(3)).build()) {
          c.memberRemove(removed);
        } catch (RuntimeException expected) {
          // TIMEOUT: the change waits for `down`
        }
      });
      // The joint configuration is in the leader's log and in the removed node's.
      awaitUntil(Duration.ofSeconds(30), "the removal's joint configuration on " + leader + " and " + removed,
          () -> !lists(cluster, leader, removed) && !lists(cluster, removed, removed));
      removal.join();

      // The leader dies with the change half done; restarted, it is elected again (the longest log) and finds it.
      cluster.kill(leader);
      cluster.start(down);
      cluster.start(leader);
      cluster.awaitServing(leader, Duration.ofSeconds(90));
      cluster.awaitServing(down, Duration.ofSeconds(90));
      var newLeader = cluster.awaitLeader(Duration.ofSeconds(60));
      assertTrue(newLeader.equals(leader) || newLeader.equals(down), "the removed node leads: " + newLeader);

      // The removed node learns it and stops by itself (exit 0), as after any removal.
      awaitUntil(Duration.ofSeconds(60), removed + " to exit after its removal", () -> !cluster.isAlive(removed));
      assertEquals(0, cluster.exitValue(removed), "exit status of the removed node; its log:\n" + cluster.log(removed));

      // And it can be added again.
      cluster.rejoin(removed);
      cluster.addRetrying(removed, Duration.ofSeconds(60));
      try (var c = cluster.client(cluster.addresses().toArray(String[]::new)).timeout(Duration.ofSeconds(10))
          .build()) {
        var members = c.members().getMembersList();
        assertEquals(List.of(false, false, false), members.stream().map(Member::getLearner).toList(),
            "three voters: " + members);
      }
      var logs = cluster.log(leader) + cluster.log(down);
      assertFalse(logs.contains("Found duplicated element"), "an add failed in Ratis:\n" + logs);
    }
  }

  /**
   * A node replaced as an operator does it ({@code member remove}, wiped, {@code --join}, {@code member add}) votes:
   * the cluster survives the loss of its leader right after. Ratis 3.3.0 never told a node staged as a learner that
   * it had caught up, and the add used to stage every node as a learner and promote it: the new node stayed
   * "starting", refused every vote and never stood, so the two survivors could not elect a leader (found by the
   * robustness suite's {@code membership-leader-kill}: a cluster left with no leader for good).
   */
  @Test
  void aNodeAddedWithMemberAddVotesSoTheClusterSurvivesItsLeader() throws Exception {
    try (var cluster = Cluster.onLoopback(dir, 3).startAll()) {
      var leader = cluster.awaitLeader(Duration.ofSeconds(60));
      var follower = cluster.ids().stream().filter(id -> !id.equals(leader)).findFirst().orElseThrow();
      cluster.replace(follower, Duration.ofSeconds(60));
      survivesTheLossOf(cluster, cluster.awaitLeader(Duration.ofSeconds(30)));
    }
  }

  /** The same for a learner that is promoted: the leader hands over after the promotion, so that it votes. */
  @Test
  void aPromotedLearnerVotesSoTheClusterSurvivesItsLeader() throws Exception {
    try (var cluster = Cluster.onLoopback(dir, 3).startAll()) {
      var leader = cluster.awaitLeader(Duration.ofSeconds(60));
      var follower = cluster.ids().stream().filter(id -> !id.equals(leader)).findFirst().orElseThrow();
      assertTrue(cluster.removeRetrying(follower, Duration.ofSeconds(60)).isEmpty(), follower + " did not exit 0");
      cluster.rejoin(follower);
      try (var c = cluster.client(cluster.addresses().toArray(String[]::new)).timeout(Duration.ofSeconds(30))
          .build()) {
        c.memberAdd(follower, cluster.node(follower).memberAddress(), true);
        c.memberPromote(follower);
      }
      // The hand-over follows the promotion's answer.
      awaitUntil(Duration.ofSeconds(30), "the leader to hand over after the promotion",
          () -> !leaderOrNone(cluster).equals(leader) && !leaderOrNone(cluster).isEmpty());
      survivesTheLossOf(cluster, cluster.awaitLeader(Duration.ofSeconds(30)));
    }
  }

  private static String leaderOrNone(Cluster cluster) {
    try {
      return cluster.awaitLeader(Duration.ofSeconds(1));
    } catch (IllegalStateException | InterruptedException e) {
      return "";
    }
  }

  /** SIGKILLs {@code leader} and expects the other two to elect a leader and take a write. */
  private static void survivesTheLossOf(Cluster cluster, String leader) throws Exception {
    cluster.kill(leader);
    var survivors = cluster.ids().stream().filter(id -> !id.equals(leader)).toList();
    var elected = cluster.awaitLeader(Duration.ofSeconds(30));
    assertTrue(survivors.contains(elected), "leader " + elected + " is not a survivor");
    try (var c = cluster.client(survivors.stream().map(cluster::address).toArray(String[]::new))
        .timeout(Duration.ofSeconds(10)).build()) {
      c.put(com.google.protobuf.ByteString.copyFromUtf8("after"), com.google.protobuf.ByteString.copyFromUtf8(leader));
    }
  }

  /** Whether node {@code at} lists {@code id} as a member (true when it does not answer: not known to be gone). */
  private static boolean lists(Cluster cluster, String at, String id) {
    try (var c = cluster.client(cluster.address(at)).discoverMembers(false).timeout(Duration.ofSeconds(2)).build()) {
      return c.members().getMembersList().stream().anyMatch(m -> m.getId().equals(id));
    } catch (RuntimeException e) {
      return true;
    }
  }

  private static void awaitUntil(Duration timeout, String what, java.util.function.BooleanSupplier done)
      throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!done.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("timed out after " + timeout + " waiting for " + what);
      }
      Thread.sleep(100);
    }
  }
}
