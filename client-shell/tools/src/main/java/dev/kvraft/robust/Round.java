package dev.kvraft.robust;

import com.google.protobuf.ByteString;
import dev.kvraft.client.KvClient;
import dev.kvraft.proto.Consistency;
import dev.kvraft.proto.Scan;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.IntStream;

/**
 * One run of the robustness suite: the workload on fresh keys, one fault injected and healed while it runs, then the
 * verdicts — the history is linearizable (which covers every acknowledged write being in the final state), no
 * client saw an unexpected error, and every node converges to the same revision and state digest.
 */
public final class Round {

  /** What a round found. */
  public record Result(Scenario scenario, long seed, int operations, int unknown, double opsPerSecond,
      Checker.Result verdict, List<String> errors, boolean converged, String nodes, List<String> watchProblems) {
    public boolean passed() {
      return verdict.linearizable() && errors.isEmpty() && converged && watchProblems.isEmpty();
    }

    public String summary() {
      return String.format("%s (seed %d): %d operations, %.0f ops/s, %d of unknown outcome; %s; %s; %s; %s",
          scenario.name().toLowerCase(java.util.Locale.ROOT), seed, operations, opsPerSecond, unknown,
          verdict.linearizable() ? "linearizable" : "NOT LINEARIZABLE",
          errors.isEmpty() ? "no client errors" : errors.size() + " client errors " + errors.subList(0,
              Math.min(3, errors.size())),
          converged ? "all nodes converged (" + nodes + ")" : "nodes did NOT converge: " + nodes,
          watchProblems.isEmpty() ? "every watcher saw exactly the writes, no lease expired early, no lock held twice"
              : "WATCHES, LEASES OR LOCKS WRONG: "
              + watchProblems.subList(0, Math.min(3, watchProblems.size())));
    }
  }

  private Round() {}

  /**
   * Runs one round.
   *
   * @param keyPrefix keys are {@code keyPrefix + i}: fresh per round, so each history starts from absent keys
   */
  public static Result run(Cluster cluster, Scenario scenario, long seed, int clients, int keys, String keyPrefix,
      Duration before, Duration during, Duration after) throws Exception {
    var keyList = IntStream.range(0, keys).mapToObj(i -> keyPrefix + i).toList();
    var random = new Random(seed);
    // A watcher per node on the round's keys: they must see exactly the writes, whatever the fault does.
    var watches = WatchRecorder.start(cluster, keyPrefix);
    // A lease kept alive through the fault: it must never expire early.
    var lease = LeaseRecorder.start(cluster, "lease-" + keyPrefix); // outside the watched keys
    // Two contenders for one lock: no two holds may overlap.
    var locks = LockRecorder.start(cluster, "lock-" + keyPrefix);
    var workload = new Workload(cluster.addresses(), cluster.access(), clients, keyList, seed).start();
    long start = System.nanoTime();
    try {
      Thread.sleep(before.toMillis());
      inject(cluster, scenario, random, during);
      Thread.sleep(after.toMillis());
    } finally {
      workload.stop();
      locks.close(); // before the nodes are compared: the contenders write
      cluster.heal();
    }
    double seconds = (System.nanoTime() - start) / 1e9;
    workload.finalReads(Duration.ofSeconds(60));
    var history = workload.history();
    var verdict = new Checker().check(history);
    var states = converge(cluster, Duration.ofSeconds(30));
    var watchProblems = new java.util.ArrayList<String>();
    try (watches; lease; locks) {
      watchProblems.addAll(watches.check(history, Duration.ofSeconds(60)));
      watchProblems.addAll(lease.check());
      watchProblems.addAll(locks.check());
    }
    int unknown = (int) history.stream().filter(Operation::unknown).count();
    return new Result(scenario, seed, history.size(), unknown, history.size() / seconds, verdict, workload.errors(),
        states.values().stream().distinct().count() == 1, states.toString(), watchProblems);
  }

  private static void inject(Cluster cluster, Scenario scenario, Random random, Duration during) throws Exception {
    var leader = cluster.awaitLeader(Duration.ofSeconds(30));
    var followers = cluster.nodes().stream().map(Cluster.Node::id).filter(id -> !id.equals(leader)).toList();
    var follower = followers.get(random.nextInt(followers.size()));
    switch (scenario) {
      case KILL_LEADER, KILL_FOLLOWER -> {
        var victim = scenario == Scenario.KILL_LEADER ? leader : follower;
        cluster.kill(victim);
        Thread.sleep(during.toMillis());
        cluster.start(victim);
        cluster.awaitServing(victim, Duration.ofSeconds(90));
      }
      case PAUSE_LEADER -> {
        cluster.pause(leader);
        // Longer than the election timeout (at most 1 s in these clusters): the others elect a new leader.
        Thread.sleep(Math.max(during.toMillis(), 2500));
        cluster.resume(leader);
      }
      case RESTART_ALL -> {
        for (var n : cluster.nodes()) {
          cluster.kill(n.id());
        }
        for (var n : cluster.nodes()) {
          cluster.start(n.id());
        }
        for (var n : cluster.nodes()) {
          cluster.awaitServing(n.id(), Duration.ofSeconds(90));
        }
      }
      // Half the time the follower is SIGKILLed first: a dead host replaced by a fresh node under the same id.
      case MEMBERSHIP -> cluster.replace(follower, random.nextBoolean(), Duration.ofSeconds(30));
      case PARTITION_LEADER, PARTITION_FOLLOWER -> {
        cluster.isolate(scenario == Scenario.PARTITION_LEADER ? leader : follower);
        Thread.sleep(during.toMillis());
        cluster.heal();
      }
      case MEMBERSHIP_LEADER_KILL, MEMBERSHIP_PARTITION -> replaceHittingTheLeader(cluster, follower, leader,
          scenario == Scenario.MEMBERSHIP_PARTITION, random, during);
      case PARTIAL_PARTITION -> {
        cluster.cutBetween(leader, follower);
        Thread.sleep(during.toMillis());
        cluster.heal();
      }
      case FLAPPING_PARTITION -> {
        // Election timeouts here are 0.5 to 1 s: some cuts end before anyone notices, some elect a leader.
        var ids = cluster.ids();
        long end = System.nanoTime() + Math.max(2 * during.toNanos(), Duration.ofSeconds(4).toNanos());
        do {
          cluster.isolate(ids.get(random.nextInt(ids.size())));
          Thread.sleep(100 + random.nextInt(1100));
          cluster.heal();
          Thread.sleep(100 + random.nextInt(1100));
        } while (System.nanoTime() < end);
      }
    }
  }

  /**
   * Replaces {@code follower} (remove, wipe, {@code --join}, add) on a thread of its own, and hits {@code leader} 0 to
   * 300 ms into the remove or into the add (chosen at random): SIGKILLed and restarted after {@code during}, or with
   * {@code partition} cut off the network and healed after {@code during}. The steps are tried again until they take
   * ({@link Cluster#removeRetrying}, {@link Cluster#addRetrying}).
   */
  private static void replaceHittingTheLeader(Cluster cluster, String follower, String leader, boolean partition,
      Random random, Duration during) throws Exception {
    boolean duringAdd = random.nextBoolean();
    long after = random.nextInt(300);
    var timeout = Duration.ofSeconds(90);
    var removed = cluster.removeRetryingAsync(follower, timeout);
    if (!duringAdd) {
      hit(cluster, leader, partition, after, during);
    }
    removed.get().ifPresent(note -> System.out.println("  note: " + note));
    cluster.rejoin(follower);
    var added = cluster.addRetryingAsync(follower, timeout);
    if (duringAdd) {
      hit(cluster, leader, partition, after, during);
    }
    added.get();
  }

  private static void hit(Cluster cluster, String id, boolean partition, long afterMillis, Duration down)
      throws Exception {
    Thread.sleep(afterMillis);
    if (partition) {
      cluster.isolate(id);
      Thread.sleep(down.toMillis());
      cluster.heal();
      return;
    }
    cluster.kill(id);
    Thread.sleep(down.toMillis());
    cluster.start(id);
    cluster.awaitServing(id, Duration.ofSeconds(90));
  }

  /** Waits until every node reports the same revision and state digest; returns what each reported last. */
  static Map<String, String> converge(Cluster cluster, Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    Map<String, String> states;
    do {
      states = new LinkedHashMap<>();
      for (var n : cluster.nodes()) {
        states.put(n.id(), digest(n.clientAddress(), cluster.access()));
      }
      if (states.values().stream().distinct().count() == 1) {
        return states;
      }
      Thread.sleep(100);
    } while (System.nanoTime() < deadline);
    return states;
  }

  /** {@code revision/keys/sha256-prefix} of one node's own copy (STALE scans), or the error. */
  public static String digest(String address) {
    return digest(address, Access.PLAIN);
  }

  /** As {@link #digest(String)}, with the cluster's access (TLS, a user). */
  public static String digest(String address, Access access) {
    try (var c = access.client(address).discoverMembers(false).timeout(Duration.ofSeconds(5)).build()) {
      var md = MessageDigest.getInstance("SHA-256");
      long revision = c.status().getRevision();
      long keys = 0;
      var start = ByteString.EMPTY;
      while (true) {
        var page = c.scan(Scan.newBuilder().setStart(start).setConsistency(Consistency.STALE).build());
        for (var kv : page.getKvsList()) {
          md.update(kv.getKey().toByteArray());
          md.update((byte) 0);
          md.update(kv.getValue().toByteArray());
          md.update(Long.toString(kv.getModRevision()).getBytes());
          keys++;
        }
        if (!page.getMore()) {
          break;
        }
        start = page.getKvs(page.getKvsCount() - 1).getKey().concat(ByteString.copyFrom(new byte[] {0}));
      }
      return "rev " + revision + ", " + keys + " keys, " + HexFormat.of().formatHex(md.digest()).substring(0, 12);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    } catch (RuntimeException e) {
      return "unreachable (" + e.getMessage() + ")";
    }
  }
}
