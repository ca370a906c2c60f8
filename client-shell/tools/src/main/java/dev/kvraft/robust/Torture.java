package dev.kvraft.robust;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * {@code kvraft-torture}: the robustness suite's long mode. Runs rounds of the workload under random faults against
 * a three-process cluster until the time is up, checking every round's history for linearizability, and prints
 * operations per second, the faults injected and the verdicts. Exit status 0 only if every round passed.
 *
 * <pre>
 *   kvraft-torture [--minutes N] [--seed S] [--scenario NAME] [--clients 8] [--keys 5] [--dir DIR]
 *                  [--namespaces auto|on|off] [--tls]
 *   kvraft-torture --round-seed S --scenario NAME [...]
 * </pre>
 * A round's seed and scenario are printed with it: {@code --round-seed S --scenario NAME} runs that one round
 * again, on a fresh cluster. ({@code --seed} seeds the whole run: the rounds' scenarios and seeds.)
 */
public final class Torture {
  private Torture() {}

  public static void main(String[] args) throws Exception {
    double minutes = 1;
    long seed = System.currentTimeMillis();
    Long replay = null; // --round-seed: run exactly one round with this seed
    Scenario only = null;
    int clients = 8;
    int keys = 5;
    Path dir = null;
    String namespaces = "auto";
    boolean tls = false;
    for (int i = 0; i < args.length; i++) {
      var a = args[i];
      if (a.equals("--tls")) {
        tls = true; // every link over TLS, with a throwaway CA made by openssl
        continue;
      }
      var v = a.contains("=") ? a.substring(a.indexOf('=') + 1) : i + 1 < args.length ? args[i + 1] : null;
      var name = a.contains("=") ? a.substring(0, a.indexOf('=')) : a;
      if (!a.contains("=")) {
        i++;
      }
      if (v == null) {
        fail(name + " needs a value");
      }
      switch (name) {
        case "--minutes" -> minutes = Double.parseDouble(v);
        case "--seed" -> seed = Long.parseLong(v);
        case "--round-seed" -> replay = Long.parseLong(v);
        case "--scenario" -> only = Scenario.parse(v);
        case "--clients" -> clients = Integer.parseInt(v);
        case "--keys" -> keys = Integer.parseInt(v);
        case "--dir" -> dir = Path.of(v);
        case "--namespaces" -> namespaces = v;
        default -> fail("unknown option " + name);
      }
    }
    if (replay != null && only == null) {
      fail("--round-seed needs --scenario: the round's scenario, printed with its seed");
    }
    if (dir == null) {
      dir = Files.createTempDirectory("kvraft-torture-");
    }
    var random = new Random(seed);
    if (replay != null) {
      System.out.printf("kvraft-torture: one round, seed %d, %d clients, %d keys, data in %s%n", replay, clients,
          keys, dir);
    } else {
      System.out.printf("kvraft-torture: seed %d, %.1f minutes, %d clients, %d keys, data in %s%n", seed, minutes,
          clients, keys, dir);
    }
    Cluster cluster = null;
    if (!namespaces.equals("off")) {
      try {
        cluster = Cluster.inNamespaces(dir.resolve("data"), 3);
      } catch (Exception e) {
        if (namespaces.equals("on")) {
          throw e;
        }
        System.out.println("kvraft-torture: partition scenarios SKIPPED, namespaces unavailable: " + e.getMessage());
      }
    }
    if (cluster == null) {
      cluster = Cluster.onLoopback(dir.resolve("data"), 3);
    }
    if (tls) {
      cluster.withTls();
      System.out.println("kvraft-torture: TLS on every link (certificates in " + dir.resolve("data/tls") + ")");
    }
    var scenarios = new ArrayList<Scenario>();
    for (var s : Scenario.values()) {
      if (!s.needsNamespaces() || cluster.partitionable()) {
        scenarios.add(s);
      }
    }
    var results = new ArrayList<Round.Result>();
    long deadline = System.nanoTime() + (long) (minutes * 60e9);
    try (var c = cluster) {
      c.startAll();
      int round = 0;
      do {
        var scenario = only != null ? only : scenarios.get(random.nextInt(scenarios.size()));
        long roundSeed = replay != null ? replay : random.nextLong();
        var r = Round.run(c, scenario, roundSeed, clients, keys, "r" + round + "/k", Duration.ofSeconds(1),
            Duration.ofSeconds(2), Duration.ofSeconds(2));
        results.add(r);
        System.out.println("round " + round + ": " + r.summary());
        if (!r.verdict().linearizable()) {
          System.out.println(r.verdict().report());
        }
        round++;
      } while (replay == null && System.nanoTime() < deadline);
    }
    summarize(results);
    System.exit(results.stream().allMatch(Round.Result::passed) ? 0 : 1);
  }

  private static void summarize(List<Round.Result> results) {
    int ops = results.stream().mapToInt(Round.Result::operations).sum();
    double rate = results.stream().mapToDouble(Round.Result::opsPerSecond).average().orElse(0);
    var faults = new java.util.TreeMap<String, Integer>();
    results.forEach(r -> faults.merge(r.scenario().name().toLowerCase(java.util.Locale.ROOT), 1, Integer::sum));
    long failed = results.stream().filter(r -> !r.passed()).count();
    System.out.printf("%d rounds, %d operations, %.0f ops/s on average, faults injected %s%n", results.size(), ops,
        rate, faults);
    System.out.println(failed == 0 ? "verdict: every round linearizable, no acknowledged write lost, all converged"
        : "verdict: " + failed + " round(s) FAILED");
  }

  private static void fail(String message) {
    System.err.println("kvraft-torture: " + message);
    System.exit(2);
  }
}
