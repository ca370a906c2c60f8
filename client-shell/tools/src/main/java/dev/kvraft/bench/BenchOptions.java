package dev.kvraft.bench;

import dev.kvraft.proto.Consistency;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The settings of one benchmark run, parsed from etcd-benchmark-like flags. Immutable.
 *
 * @param op one of put, get, scan, txn, mixed, connect
 */
public record BenchOptions(
    List<String> endpoints,
    int conns,
    int clients,
    long total,
    Duration duration,
    Duration warmup,
    int keySize,
    int valSize,
    long keySpaceSize,
    boolean sequentialKeys,
    double rate,
    String op,
    double readRatio,
    Consistency consistency,
    boolean targetLeader,
    boolean writesViaNode,
    boolean readsViaNode,
    boolean json,
    boolean progress,
    boolean preload,
    int scanLimit,
    boolean timeline,
    java.util.Optional<dev.kvraft.proto.PemTls> tls,
    java.util.Optional<String> user,
    int watchers,
    boolean watchCatchup) {

  public static final String USAGE = """
      usage: kvraft-bench [flags] put|get|scan|txn|mixed|connect
        --endpoints=H:P,H:P   nodes to use (default 127.0.0.1:7379)
        --conns=N             TCP connections, spread over the endpoints (default 1)
        --clients=N           concurrent clients, each with one request in flight (default 1)
        --total=N             operations to run (default 10000), or
        --duration=SECONDS    run for this long instead
        --warmup=SECONDS      run this long first without counting (JIT, caches; default 0)
        --key-size=N          key bytes (default 8)
        --val-size=N          value bytes (default 256)
        --key-space-size=N    distinct keys (default 100000)
        --sequential-keys     walk the key space in order instead of at random
        --rate=N              cap at N operations/s in all (default: no cap)
        --read-ratio=R        for mixed: fraction of gets (default 0.5)
        --consistency=l|s     reads: linearizable (default) or stale
        --target-leader       send everything to the leader
        --writes-via-node     send each write to its connection's node, which forwards it when it is a
                              follower (default: to the leader, as KvClient does once it knows the leader)
        --reads-via-node      send each linearizable read to its connection's node, which asks the leader
                              for a read index when it is a follower (default: to the leader, as KvClient does)
        --preload             put every key of the key space first (for get/scan/mixed)
        --scan-limit=N        keys per scan (default 10)
        --cacert=FILE         talk TLS, verifying the servers against this CA (PEM)
        --cert=FILE --key=FILE  the client certificate and key (PEM) for servers that require one
        --user=NAME           authenticate every connection as NAME (password from $KVRAFT_BENCH_PASSWORD)
        --json                print the result as one JSON object
        --no-progress         no progress bar on stderr
        --timeline            also print p50/p99/max for each second of the run (where the stalls are)
        --watchers=N          watch the key space with N watchers (each a slice of it, spread over the
                              endpoints) while the run writes; prints event latency (put sent -> event received)
        --watch-catchup       after the run, one watcher reads every change of the run from history: events/s
        --help                this text
      """;

  public static BenchOptions parse(String... args) {
    var endpoints = List.of("127.0.0.1:7379");
    int conns = 1;
    int clients = 1;
    long total = 10_000;
    Duration duration = null;
    Duration warmup = Duration.ZERO;
    int keySize = 8;
    int valSize = 256;
    long keySpace = 100_000;
    boolean sequential = false;
    double rate = 0;
    String op = null;
    double readRatio = 0.5;
    var consistency = Consistency.LINEARIZABLE;
    boolean leader = false;
    boolean viaNode = false;
    boolean readsViaNode = false;
    boolean json = false;
    boolean progress = true;
    boolean timeline = false;
    boolean preload = false;
    int scanLimit = 10;
    String cacert = null;
    String user = null;
    String cert = null;
    String key = null;
    int watchers = 0;
    boolean watchCatchup = false;
    for (int i = 0; i < args.length; i++) {
      var a = args[i];
      if (!a.startsWith("--")) {
        if (op != null) {
          throw new IllegalArgumentException("two operations given: '" + op + "' and '" + a + "'");
        }
        op = a.toLowerCase(Locale.ROOT);
        continue;
      }
      var name = a.contains("=") ? a.substring(2, a.indexOf('=')) : a.substring(2);
      String value = a.contains("=") ? a.substring(a.indexOf('=') + 1) : null;
      switch (name) {
        case "sequential-keys" -> sequential = true;
        case "target-leader" -> leader = true;
        case "writes-via-node" -> viaNode = true;
        case "reads-via-node" -> readsViaNode = true;
        case "json" -> json = true;
        case "no-progress" -> progress = false;
        case "timeline" -> timeline = true;
        case "preload" -> preload = true;
        case "watch-catchup" -> watchCatchup = true;
        default -> {
          if (value == null) {
            if (i + 1 >= args.length) {
              throw new IllegalArgumentException("--" + name + " needs a value");
            }
            value = args[++i];
          }
          switch (name) {
            case "endpoints" -> endpoints = split(value);
            case "conns" -> conns = (int) positive(name, value);
            case "clients" -> clients = (int) positive(name, value);
            case "total" -> total = positive(name, value);
            case "duration" -> duration = Duration.ofMillis((long) (positiveDouble(name, value) * 1000));
            case "warmup" -> warmup = Duration.ofMillis((long) (positiveOrZeroDouble(name, value) * 1000));
            case "key-size" -> keySize = (int) positive(name, value);
            case "val-size" -> valSize = (int) nonNegative(name, value);
            case "key-space-size" -> keySpace = positive(name, value);
            case "rate" -> rate = positiveDouble(name, value);
            case "read-ratio" -> {
              readRatio = positiveOrZeroDouble(name, value);
              if (readRatio > 1) {
                throw new IllegalArgumentException("--read-ratio must be within 0..1, got " + value);
              }
            }
            case "consistency" -> consistency = switch (value.toLowerCase(Locale.ROOT)) {
              case "l", "linearizable" -> Consistency.LINEARIZABLE;
              case "s", "stale" -> Consistency.STALE;
              default -> throw new IllegalArgumentException("--consistency is l or s, got '" + value + "'");
            };
            case "scan-limit" -> scanLimit = (int) positive(name, value);
            case "cacert" -> cacert = value;
            case "cert" -> cert = value;
            case "key" -> key = value;
            case "user" -> user = value;
            case "watchers" -> watchers = (int) nonNegative(name, value);
            default -> throw new IllegalArgumentException("unknown flag --" + name);
          }
        }
      }
    }
    if (op == null) {
      throw new IllegalArgumentException("name an operation: put, get, scan, txn, mixed or connect");
    }
    if (!List.of("put", "get", "scan", "txn", "mixed", "connect").contains(op)) {
      throw new IllegalArgumentException("unknown operation '" + op + "': use put, get, scan, txn, mixed or connect"
          + " (a new connection, one members call, closed: connection set-up, TLS handshake included)");
    }
    if ((watchers > 0 || watchCatchup) && json) {
      throw new IllegalArgumentException("--watchers and --watch-catchup print text lines; leave out --json");
    }
    if (keySize < 8 && Math.pow(10, keySize) < keySpace) {
      throw new IllegalArgumentException("--key-size=" + keySize + " cannot hold " + keySpace + " distinct keys");
    }
    return new BenchOptions(endpoints, conns, clients, total, duration, warmup, keySize, valSize, keySpace, sequential,
        rate, op, readRatio, consistency, leader, viaNode, readsViaNode, json, progress, preload, scanLimit, timeline,
        dev.kvraft.proto.PemTls.fromFlags(cacert, cert, key), java.util.Optional.ofNullable(user), watchers,
        watchCatchup);
  }

  private static List<String> split(String v) {
    var list = new ArrayList<String>();
    for (var p : v.split(",")) {
      if (!p.isBlank()) {
        list.add(p.strip());
      }
    }
    if (list.isEmpty()) {
      throw new IllegalArgumentException("--endpoints is empty");
    }
    return List.copyOf(list);
  }

  private static long positive(String name, String v) {
    long n = nonNegative(name, v);
    if (n == 0) {
      throw new IllegalArgumentException("--" + name + " must be positive, got " + v);
    }
    return n;
  }

  private static long nonNegative(String name, String v) {
    try {
      long n = Long.parseLong(v.replace("_", ""));
      if (n < 0) {
        throw new NumberFormatException();
      }
      return n;
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("--" + name + " must be a whole number >= 0, got '" + v + "'");
    }
  }

  private static double positiveDouble(String name, String v) {
    double d = positiveOrZeroDouble(name, v);
    if (d == 0) {
      throw new IllegalArgumentException("--" + name + " must be positive, got " + v);
    }
    return d;
  }

  private static double positiveOrZeroDouble(String name, String v) {
    try {
      double d = Double.parseDouble(v);
      if (d < 0 || Double.isNaN(d)) {
        throw new NumberFormatException();
      }
      return d;
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("--" + name + " must be a number >= 0, got '" + v + "'");
    }
  }
}
