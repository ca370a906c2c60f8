package dev.kvraft.server.config;

import static dev.kvraft.server.config.Settings.JVM_OPTIONS;

import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.function.Function;
import dev.kvraft.server.metrics.MetricsAddress;

/**
 * Everything one kvraft node is told at start-up. Immutable; made by {@link #fromArgs} (a properties file plus
 * {@code --key=value} overrides) or {@link #fromMap}, which read the values of the keys in {@link Settings} (their
 * names, defaults and docs). Every setting has a default, so no arguments at all start a single-node cluster on
 * localhost with data in {@code ./data}.
 */
public record ServerConfig(
    String nodeId,
    List<PeerSpec> cluster,
    Path dataDir,
    Limits limits,
    Duration requestTimeout,
    int queueCapacity,
    int maxBatch,
    long snapshotThreshold,
    long logRetention,
    long logRetentionBytes,
    Duration logRetentionAge,
    long storageQuotaBytes,
    long storageReserveBytes,
    long compactionRetention,
    Duration watchProgressInterval,
    boolean logMirror,
    long segmentBytes,
    Duration electionTimeoutMin,
    Duration electionTimeoutMax,
    Duration firstElectionTimeoutMin,
    Duration firstElectionTimeoutMax,
    Optional<MetricsAddress> metricsAddress,
    Duration slowRequest,
    ConnectionLimits connections,
    Optional<TlsFiles> tls,
    boolean join,
    Optional<Path> restore) {

  /**
   * TLS on every link: the PEM files of {@code tls.cert.file}, {@code tls.key.file} and {@code tls.ca.file} (all three,
   * or none), whether the client port asks clients for a certificate ({@code tls.client.auth}), and how long a client
   * has to finish its handshake ({@code client.handshake.timeout.ms}).
   */
  public record TlsFiles(Path certFile, Path keyFile, Path caFile, ClientAuth clientAuth, Duration handshakeTimeout) {
    public dev.kvraft.proto.PemTls pem() {
      return dev.kvraft.proto.PemTls.of(certFile, keyFile, caFile);
    }
  }

  /** {@code tls.client.auth}: whether a client of the client port must present a certificate chaining to the CA. */
  public enum ClientAuth {
    /** Clients present no certificate; only members' forwarding links must (they present one anyway). */
    NONE,
    /** A client may present one; a bad one is refused. */
    REQUEST,
    /** Every client must present one. */
    REQUIRE;

    static ClientAuth parse(String value) {
      return switch (value.strip().toLowerCase(java.util.Locale.ROOT)) {
        case "none" -> NONE;
        case "request" -> REQUEST;
        case "require" -> REQUIRE;
        default -> throw new IllegalArgumentException("tls.client.auth = '" + value
            + "' is not one of none, request, require");
      };
    }
  }

  public ServerConfig {
    if (cluster.isEmpty()) {
      throw new IllegalArgumentException("cluster is empty: name at least this node, e.g. n1=127.0.0.1:7379:7380");
    }
    cluster = List.copyOf(cluster);
    var ids = new HashSet<String>();
    var addresses = new HashSet<String>();
    for (var p : cluster) {
      if (!ids.add(p.id())) {
        throw new IllegalArgumentException("cluster names node '" + p.id() + "' twice");
      }
      for (var address : List.of(p.clientAddress(), p.peerAddress())) {
        if (!addresses.add(address)) {
          throw new IllegalArgumentException("cluster uses address " + address + " twice");
        }
      }
    }
    if (!ids.contains(nodeId)) {
      throw new IllegalArgumentException("node.id '" + nodeId + "' is not in cluster " + cluster
          + ": add it there, or pick one of " + ids);
    }
    if (connections.partialFramesBytes() < limits.maxFrameBytes()) {
      // One frame of the largest size must fit, or it could never be received while any other frame is.
      throw new IllegalArgumentException("limit.partial.frames.bytes (" + connections.partialFramesBytes()
          + ") must be at least limit.frame.bytes (" + limits.maxFrameBytes() + ")");
    }
    if (metricsAddress.isPresent()) {
      var m = metricsAddress.get();
      var self = cluster.stream().filter(p -> p.id().equals(nodeId)).findFirst().orElseThrow();
      boolean sameHost = m.host().equals(self.host()) || wildcard(m.host()) || wildcard(self.host());
      for (var own : List.of(self.clientPort(), self.peerPort())) {
        if (sameHost && m.port() == own) {
          throw new IllegalArgumentException("metrics.address " + m + " is also node " + nodeId + "'s "
              + (own == self.clientPort() ? "client" : "peer") + " port (" + self + "; metrics.address auto is the"
              + " client port + 2): set metrics.address to a free port, or empty to turn metrics off");
        }
      }
    }
    if (logRetentionAge.isNegative()) {
      throw new IllegalArgumentException("log.retention.age.ms must be 0 (no limit) or more, got "
          + logRetentionAge.toMillis());
    }
    if (join && restore.isPresent()) {
      throw new IllegalArgumentException("--join and --restore do not go together: a joining node gets its data from"
          + " the leader; restore the cluster's first node (or every node) instead");
    }
    if (requestTimeout.isNegative() || requestTimeout.isZero()) {
      throw new IllegalArgumentException("request.timeout.ms must be positive, got " + requestTimeout.toMillis());
    }
    if (electionTimeoutMax.compareTo(electionTimeoutMin) <= 0) {
      throw new IllegalArgumentException("raft.election.timeout.max.ms (" + electionTimeoutMax.toMillis()
          + ") must be greater than raft.election.timeout.min.ms (" + electionTimeoutMin.toMillis() + ")");
    }
    if (firstElectionTimeoutMax.compareTo(firstElectionTimeoutMin) <= 0) {
      throw new IllegalArgumentException("raft.first.election.timeout.max.ms (" + firstElectionTimeoutMax.toMillis()
          + ") must be greater than raft.first.election.timeout.min.ms (" + firstElectionTimeoutMin.toMillis()
          + "); when one is not set it is a fifth of raft.election.timeout.max.ms or .min.ms");
    }
  }

  private static boolean wildcard(String host) {
    return host.equals("0.0.0.0") || host.equals("::") || host.equals("0:0:0:0:0:0:0:0");
  }

  /** This node's own entry of the cluster. */
  public PeerSpec self() {
    return peer(nodeId).orElseThrow();
  }

  public Optional<PeerSpec> peer(String id) {
    return cluster.stream().filter(p -> p.id().equals(id)).findFirst();
  }

  public static ServerConfig defaults() {
    return fromMap(Map.of());
  }

  /**
   * Parses the command line: {@code --config=FILE} (or {@code --config FILE}) names a properties file, and every
   * other {@code --key=value} overrides one setting of the file.
   *
   * @throws IllegalArgumentException naming the bad argument, key or value
   */
  public static ServerConfig fromArgs(String... args) {
    Path file = null;
    var overrides = new LinkedHashMap<String, String>();
    for (int i = 0; i < args.length; i++) {
      var arg = args[i];
      if (!arg.startsWith("--")) {
        throw new IllegalArgumentException("unexpected argument '" + arg + "': settings look like --key=value");
      }
      var body = arg.substring(2);
      int eq = body.indexOf('=');
      String key;
      String value;
      if (eq >= 0) {
        key = body.substring(0, eq);
        value = body.substring(eq + 1);
      } else if (i + 1 < args.length && !args[i + 1].startsWith("--")) {
        key = body;
        value = args[++i];
      } else if (body.equals("join")) {
        key = body; // a flag: --join alone means --join=true
        value = "true";
      } else {
        throw new IllegalArgumentException("argument '" + arg + "' has no value: write --" + body + "=VALUE");
      }
      if (key.equals(JVM_OPTIONS)) {
        // bin/kvraft-server reads it from the config file before the JVM starts; here it would change nothing.
        throw new IllegalArgumentException("--" + JVM_OPTIONS + " has no effect on the command line: put it in the"
            + " config file, or give JVM flags in KVRAFT_JAVA_OPTS");
      }
      if (key.equals("config")) {
        if (file != null) {
          // Only one file is read: a second would silently replace the first, not add to it.
          throw new IllegalArgumentException("--config given twice (" + file + " and " + value + "): give one file,"
              + " and override single settings with --key=value");
        }
        file = path("config file (--config)", value);
      } else {
        overrides.put(key, value);
      }
    }
    var merged = new LinkedHashMap<String, String>();
    if (file != null) {
      merged.putAll(readFile(file));
    }
    merged.putAll(overrides);
    return fromMap(merged);
  }

  /** Reads a properties file; the message names the file and what is wrong with it. */
  public static Map<String, String> readFile(Path file) {
    // Properties keeps the last of two lines with the same key; a file that sets one twice is refused instead, since
    // an operator who edited one of them would see no effect.
    var twice = new java.util.TreeSet<String>();
    var props = new Properties() {
      @Override
      public synchronized Object put(Object key, Object value) {
        if (containsKey(key)) {
          twice.add((String) key);
        }
        return super.put(key, value);
      }
    };
    try (Reader r = Files.newBufferedReader(file)) {
      props.load(r);
    } catch (java.nio.file.NoSuchFileException e) {
      throw new IllegalArgumentException("cannot read config file " + file + ": no such file", e);
    } catch (java.nio.file.AccessDeniedException e) {
      throw new IllegalArgumentException("cannot read config file " + file + ": permission denied (the server runs as"
          + " user " + System.getProperty("user.name") + ")", e);
    } catch (java.nio.charset.CharacterCodingException e) {
      throw new IllegalArgumentException("cannot read config file " + file + ": it is not UTF-8 text; save it as"
          + " UTF-8", e);
    } catch (IOException | IllegalArgumentException e) {
      throw new IllegalArgumentException("cannot read config file " + file + ": " + e.getMessage(), e);
    }
    if (!twice.isEmpty()) {
      throw new IllegalArgumentException("config file " + file + " sets " + String.join(", ", twice)
          + " more than once; keep one line for each");
    }
    var map = new LinkedHashMap<String, String>();
    props.stringPropertyNames().forEach(k -> map.put(k, props.getProperty(k).strip()));
    return map;
  }

  /** Builds a config from settings; missing keys take their defaults, unknown keys are an error. */
  public static ServerConfig fromMap(Map<String, String> given) {
    var known = new HashSet<String>();
    Settings.ALL.forEach(s -> known.add(s.key()));
    var unknown = new ArrayList<String>();
    given.keySet().stream().filter(k -> !known.contains(k) && !k.equals(JVM_OPTIONS)).sorted().forEach(unknown::add);
    if (!unknown.isEmpty()) {
      throw new IllegalArgumentException("unknown setting" + (unknown.size() > 1 ? "s " : " ") + unknown
          + "; known settings are " + known.stream().sorted().toList());
    }
    Function<String, String> get = key -> {
      var v = given.get(key);
      return v != null ? v : Settings.defaultOf(key);
    };
    var cluster = new ArrayList<PeerSpec>();
    for (var member : get.apply("cluster").split(",")) {
      if (!member.isBlank()) {
        cluster.add(PeerSpec.parse(member));
      }
    }
    var limits = new Limits(
        intValue(get, "limit.frame.bytes"),
        intValue(get, "limit.key.bytes"),
        intValue(get, "limit.value.bytes"),
        intValue(get, "limit.scan"),
        intValue(get, "limit.answer.bytes"),
        intValue(get, "limit.txn.ops"),
        intValue(get, "limit.connections"));
    var firstElectionMin = firstElectionTimeout(get, "min", null);
    return new ServerConfig(
        get.apply("node.id"),
        cluster,
        dataDir(get.apply("data.dir")),
        limits,
        millis(get, "request.timeout.ms", false),
        positiveInt(get, "queue.capacity"),
        positiveInt(get, "batch.max"),
        positiveLong(get, "snapshot.threshold"),
        positiveLong(get, "log.retention"),
        positiveLong(get, "log.retention.bytes"),
        millis(get, "log.retention.age.ms", true),
        positiveLong(get, "storage.quota.bytes"),
        positiveLong(get, "storage.reserve.bytes"),
        compactionRetention(get),
        millis(get, "watch.progress.interval.ms", false),
        bool(get, "log.mirror"),
        positiveLong(get, "raft.segment.bytes"),
        electionMillis(get, "raft.election.timeout.min.ms"),
        electionMillis(get, "raft.election.timeout.max.ms"),
        firstElectionMin,
        firstElectionTimeout(get, "max", firstElectionMin),
        metricsAddress(given.get("metrics.address"), cluster, get.apply("node.id")),
        millis(get, "log.slow.ms", false),
        new ConnectionLimits(
            positiveLong(get, "limit.outbox.bytes"),
            autoOrPositive(get, "limit.outbox.total.bytes"),
            positiveLong(get, "limit.inflight.bytes"),
            autoOrPositive(get, "limit.inflight.total.bytes"),
            millis(get, "client.write.timeout.ms", false),
            millis(get, "client.frame.timeout.ms", false),
            autoOrPositive(get, "limit.partial.frames.bytes"),
            millis(get, "client.idle.timeout.ms", true),
            get.apply("limit.connections.per.address").strip().equals("auto") ? 0
                : positiveInt(get, "limit.connections.per.address")),
        tlsFiles(get),
        bool(get, "join"),
        get.apply("restore").isBlank() ? Optional.empty() : Optional.of(path("restore", get.apply("restore"))));
  }

  private static Optional<TlsFiles> tlsFiles(Function<String, String> get) {
    var cert = get.apply("tls.cert.file").strip();
    var key = get.apply("tls.key.file").strip();
    var ca = get.apply("tls.ca.file").strip();
    var clientAuth = ClientAuth.parse(get.apply("tls.client.auth")); // checked even with TLS off: a typo is an error
    var handshake = millis(get, "client.handshake.timeout.ms", false);
    if (cert.isEmpty() && key.isEmpty() && ca.isEmpty()) {
      return Optional.empty();
    }
    if (cert.isEmpty() || key.isEmpty() || ca.isEmpty()) {
      throw new IllegalArgumentException("TLS needs all of tls.cert.file, tls.key.file and tls.ca.file; got cert '"
          + cert + "', key '" + key + "', ca '" + ca + "'");
    }
    return Optional.of(new TlsFiles(path("tls.cert.file", cert), path("tls.key.file", key), path("tls.ca.file", ca),
        clientAuth, handshake));
  }

  private static long autoOrPositive(Function<String, String> get, String key) {
    return get.apply(key).strip().equals("auto") ? ConnectionLimits.autoBytes() : positiveLong(get, key);
  }

  /** metrics.address as given, or its default next to this node's client port; a bad value names the setting. */
  private static Optional<MetricsAddress> metricsAddress(String value, List<PeerSpec> cluster, String nodeId) {
    int clientPort = cluster.stream().filter(p -> p.id().equals(nodeId)).findFirst().map(PeerSpec::clientPort)
        .orElse(7379);
    return MetricsAddress.parse(value == null || value.strip().equals("auto") ? null : value, clientPort);
  }

  /** data.dir: an empty value would put the node's data in whatever directory the server was started from. */
  private static Path dataDir(String value) {
    if (value.isBlank()) {
      throw new IllegalArgumentException("data.dir is empty: name the directory for this node's data, e.g."
          + " /var/lib/kvraft/n1 (default ./data)");
    }
    return path("data.dir", value);
  }

  private static Path path(String key, String value) {
    try {
      return Path.of(value);
    } catch (java.nio.file.InvalidPathException e) {
      throw new IllegalArgumentException(key + " = '" + value + "' is not a valid path: " + e.getReason(), e);
    }
  }

  private static boolean bool(Function<String, String> get, String key) {
    var v = get.apply(key).strip().toLowerCase(java.util.Locale.ROOT);
    return switch (v) {
      case "true", "yes", "on" -> true;
      case "false", "no", "off" -> false;
      default -> throw new IllegalArgumentException(key + " = '" + v + "' is not true or false");
    };
  }

  private static int intValue(Function<String, String> get, String key) {
    long v = longValue(get, key);
    if (v > Integer.MAX_VALUE || v < Integer.MIN_VALUE) {
      throw new IllegalArgumentException(key + " = " + v + " is out of range");
    }
    return (int) v;
  }

  private static int positiveInt(Function<String, String> get, String key) {
    int v = intValue(get, key);
    if (v <= 0) {
      throw new IllegalArgumentException(key + " must be positive, got " + v);
    }
    return v;
  }

  /** The longest any *.ms setting may be: a year (longer would overflow deadlines counted in nanoseconds). */
  static final long MAX_MILLIS = 365L * 24 * 3600 * 1000;
  static final long MAX_ELECTION_MILLIS = 3_600_000;

  /** A *.ms setting: positive (or also 0, which means "off" where the setting says so), at most {@link #MAX_MILLIS}. */
  private static Duration millis(Function<String, String> get, String key, boolean zeroAllowed) {
    long v = zeroAllowed ? longValue(get, key) : positiveLong(get, key);
    if (v < 0 || v > MAX_MILLIS) {
      throw new IllegalArgumentException(key + " must be " + (zeroAllowed ? "0" : "1") + " to " + MAX_MILLIS
          + " (a year), got " + v);
    }
    return Duration.ofMillis(v);
  }

  /**
   * {@code raft.first.election.timeout.<bound>.ms}, or a fifth of {@code raft.election.timeout.<bound>.ms} when empty
   * (etcd likewise advances its election ticks at boot): at least 1 ms, and for the upper bound at least 1 ms above
   * {@code min} (the lower bound), so that derived bounds never collide.
   */
  private static Duration firstElectionTimeout(Function<String, String> get, String bound, Duration min) {
    var key = "raft.first.election.timeout." + bound + ".ms";
    if (get.apply(key).isBlank()) {
      long derived = Math.max(1, electionMillis(get, "raft.election.timeout." + bound + ".ms").toMillis() / 5);
      return Duration.ofMillis(min == null ? derived : Math.max(derived, min.toMillis() + 1));
    }
    return electionMillis(get, key);
  }

  /** An election timeout: Ratis keeps them as int milliseconds; an hour is far beyond any sane one. */
  private static Duration electionMillis(Function<String, String> get, String key) {
    var d = millis(get, key, false);
    if (d.toMillis() > MAX_ELECTION_MILLIS) {
      throw new IllegalArgumentException(key + " must be 1 to " + MAX_ELECTION_MILLIS + " (an hour), got "
          + d.toMillis());
    }
    return d;
  }

  private static long compactionRetention(Function<String, String> get) {
    long v = longValue(get, "compaction.retention");
    if (v < 0) {
      throw new IllegalArgumentException("compaction.retention must be 0 (no automatic compaction) or more, got " + v);
    }
    return v;
  }

  private static long positiveLong(Function<String, String> get, String key) {
    long v = longValue(get, key);
    if (v <= 0) {
      throw new IllegalArgumentException(key + " must be positive, got " + v);
    }
    return v;
  }

  private static long longValue(Function<String, String> get, String key) {
    var text = get.apply(key);
    try {
      return Long.parseLong(text.replace("_", ""));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(key + " = '" + text + "' is not a whole number");
    }
  }
}
