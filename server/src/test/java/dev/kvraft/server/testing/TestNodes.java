package dev.kvraft.server.testing;

import dev.kvraft.server.config.ServerConfig;
import dev.kvraft.testkit.FreePorts;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Configs for test nodes on free loopback ports, with fast elections. */
public final class TestNodes {
  private TestNodes() {}

  /** A single-node config with its data under {@code dir}. */
  public static ServerConfig single(Path dir) {
    return single(dir, Map.of());
  }

  public static ServerConfig single(Path dir, Map<String, String> extra) {
    return cluster(dir, 1, extra).get(0);
  }

  /** Configs for an {@code n}-node cluster, node i's data under {@code dir/n<i>}. */
  public static List<ServerConfig> cluster(Path dir, int n, Map<String, String> extra) {
    return cluster(dir, n, extra, id -> Map.of());
  }

  /** As {@link #cluster(Path, int, Map)}, with settings of each node's own (by node id) on top. */
  public static List<ServerConfig> cluster(Path dir, int n, Map<String, String> extra,
      java.util.function.Function<String, Map<String, String>> perNode) {
    var ports = FreePorts.take(2 * n);
    var members = new ArrayList<String>();
    for (int i = 0; i < n; i++) {
      members.add("n" + (i + 1) + "=127.0.0.1:" + ports.get(2 * i) + ":" + ports.get(2 * i + 1));
    }
    var configs = new ArrayList<ServerConfig>();
    for (int i = 0; i < n; i++) {
      var settings = new LinkedHashMap<String, String>();
      settings.put("node.id", "n" + (i + 1));
      settings.put("cluster", String.join(",", members));
      settings.put("data.dir", dir.resolve("n" + (i + 1)).toString());
      settings.put("raft.election.timeout.min.ms", "300");
      settings.put("raft.election.timeout.max.ms", "600");
      // The default (client port + 2) could be another test node's port: let the OS choose.
      settings.put("metrics.address", "127.0.0.1:0");
      settings.putAll(extra);
      settings.putAll(perNode.apply("n" + (i + 1)));
      configs.add(ServerConfig.fromMap(settings));
    }
    return configs;
  }

  /**
   * Node i (1-based) of {@code members} ("id=host:client:peer"), in a cluster whose first {@code founders} nodes
   * bootstrap it and whose later ones start with --join; short election timeouts, metrics on a port the OS chooses,
   * and {@code extra} on top.
   */
  public static ServerConfig member(Path dir, List<String> members, int i, int founders, Map<String, String> extra) {
    var settings = new LinkedHashMap<String, String>();
    settings.put("node.id", "n" + i);
    settings.put("cluster", String.join(",", i <= founders ? members.subList(0, founders) : members.subList(0, i)));
    settings.put("data.dir", dir.resolve("n" + i).toString());
    settings.put("raft.election.timeout.min.ms", "300");
    settings.put("raft.election.timeout.max.ms", "600");
    settings.put("metrics.address", "127.0.0.1:0");
    if (i > founders) {
      settings.put("join", "true");
    }
    settings.putAll(extra);
    return ServerConfig.fromMap(settings);
  }

  /** The same node's config with one setting changed (a restart with a new setting). */
  public static ServerConfig withSetting(ServerConfig c, String key, String value) {
    var args = new ArrayList<>(args(c));
    args.add("--" + key + "=" + value);
    return ServerConfig.fromArgs(args.toArray(String[]::new));
  }

  /** The settings of a config as command-line overrides for a separate process. */
  public static List<String> args(ServerConfig c) {
    var list = new ArrayList<String>();
    list.add("--node.id=" + c.nodeId());
    list.add("--cluster=" + String.join(",", c.cluster().stream().map(Object::toString).toList()));
    list.add("--data.dir=" + c.dataDir());
    list.add("--raft.election.timeout.min.ms=" + c.electionTimeoutMin().toMillis());
    list.add("--raft.election.timeout.max.ms=" + c.electionTimeoutMax().toMillis());
    list.add("--snapshot.threshold=" + c.snapshotThreshold());
    list.add("--raft.segment.bytes=" + c.segmentBytes());
    list.add("--log.mirror=" + c.logMirror());
    list.add("--log.retention=" + c.logRetention());
    list.add("--storage.quota.bytes=" + c.storageQuotaBytes());
    list.add("--storage.reserve.bytes=" + c.storageReserveBytes());
    list.add("--metrics.address=" + c.metricsAddress().map(Object::toString).orElse(""));
    c.tls().ifPresent(t -> {
      list.add("--tls.cert.file=" + t.certFile());
      list.add("--tls.key.file=" + t.keyFile());
      list.add("--tls.ca.file=" + t.caFile());
      list.add("--tls.client.auth=" + t.clientAuth().name().toLowerCase(java.util.Locale.ROOT));
      list.add("--client.handshake.timeout.ms=" + t.handshakeTimeout().toMillis());
    });
    return list;
  }
}
