package dev.kvraft.server.config;

import java.util.List;

/**
 * The table of every setting a node takes: its key, its default and one line of help. It is the single source of truth
 * for the docs ({@code kvraft-server --help} prints it) and for which keys a config file or override may use;
 * {@link ServerConfig} reads the values. Immutable, no state of its own.
 */
public final class Settings {
  /** One documented setting. */
  public record Setting(String key, String defaultValue, String help) {}

  /** JVM flags: read from the config file by the {@code bin/kvraft-server} launcher only, so not in {@link #ALL}. */
  static final String JVM_OPTIONS = "jvm.options";

  /** Every key a config file or override may use, with its default: the single source of truth for docs. */
  public static final List<Setting> ALL = List.of(
      new Setting("node.id", "n1", "this node's id; must appear in 'cluster'"),
      new Setting("cluster", "n1=127.0.0.1:7379:7380",
          "every member as id=host:clientPort:peerPort, comma separated; the same on every node"),
      new Setting("data.dir", "./data", "where Ratis's log and kvraft.db live"),
      new Setting("limit.frame.bytes", "4194304", "largest request frame"),
      new Setting("limit.key.bytes", "4096", "largest key"),
      new Setting("limit.value.bytes", "1048576", "largest value"),
      new Setting("limit.scan", "10000", "most key-values one scan returns"),
      new Setting("limit.answer.bytes", "4194304", "bytes of key-values at which a scan answer, or a write's list"
          + " of deleted key-values, stops (the one that reaches it is the last; a scan holds at least one); a scan"
          + " then says more, a delete prev_truncated; a txn's gets and previous values stop there too (a write's answer"
          + " counts 40 bytes a key-value besides its key and value)"),
      new Setting("limit.txn.ops", "128", "most compares or operations per branch in one txn"),
      new Setting("limit.connections", "10000", "most open client connections (capped below the fd soft limit,"
          + " keeping a reserve for Raft and SQLite); past it a new connection gets OVERLOADED and is closed"),
      new Setting("limit.connections.per.address", "auto", "most open client connections from one address (an IPv6"
          + " one's /64); past it a new one from there gets OVERLOADED and is closed; auto: a quarter of"
          + " limit.connections, at least 100"),
      new Setting("limit.outbox.bytes", "16777216", "answers queued for one client that it has not read yet; past it"
          + " the server stops reading that client's requests"),
      new Setting("limit.outbox.total.bytes", "auto", "the same over every client; auto: a quarter of the heap,"
          + " at least 64 MiB"),
      new Setting("limit.inflight.bytes", "67108864", "requests read from one client and not yet answered (by frame"
          + " length); past it the server stops reading that client's requests until answers free room"),
      new Setting("limit.inflight.total.bytes", "auto", "the same over every client; auto: a quarter of the heap,"
          + " at least 64 MiB"),
      new Setting("client.write.timeout.ms", "10000", "a client that stays over its outbox bound this long, or"
          + " reads none of an answer being written to it this long, is disconnected"),
      new Setting("client.frame.timeout.ms", "10000", "a request frame must arrive whole within this once it has"
          + " started"),
      new Setting("limit.partial.frames.bytes", "auto", "bytes of request frames being received over every client;"
          + " a frame past it is refused OVERLOADED; auto: a quarter of the heap, at least 64 MiB"),
      new Setting("client.idle.timeout.ms", "0", "a client with nothing sent and nothing pending this long is"
          + " disconnected; 0: never"),
      new Setting("request.timeout.ms", "5000", "how long a request may wait for Raft before TIMEOUT/UNAVAILABLE"),
      new Setting("queue.capacity", "10000", "client commands waiting for the database loop before OVERLOADED"),
      new Setting("batch.max", "4096", "most client commands the database loop takes in one batch"),
      new Setting("snapshot.threshold", "50000", "take a snapshot every this many applied log entries"),
      new Setting("log.retention", "1000000", "entries kept in kvraft.db's log tables; older ones below the last"
          + " snapshot are pruned"),
      new Setting("log.retention.bytes", "1073741824", "most bytes of rows kvraft.db keeps (checked every 5 s);"
          + " past it the oldest entries are pruned and the file shrinks (files made before kvraft 0.1 of"
          + " 2026-12-05 keep their size: VACUUM them offline)"),
      new Setting("log.retention.age.ms", "0", "entries applied longer ago than this are pruned from kvraft.db too (below"
          + " the last snapshot); 0: no age limit"),
      new Setting("storage.reserve.bytes", "134217728", "fewer bytes than this free on data.dir's disk raises the"
          + " NOSPACE alarm too, before the disk fills up (which would stop the node); 1 turns it off"),
      new Setting("storage.quota.bytes", "4294967296", "data.dir past this raises the cluster's NOSPACE alarm: writes"
          + " that add data are refused (reads, deletes and admin work) until it is disarmed ('kvsh alarm disarm')"),
      new Setting("compaction.retention", "0", "revisions of history to keep: the leader compacts older ones away"
          + " by itself (like etcd's auto-compaction in revision mode); 0: never, only 'kvsh compact REV'"),
      new Setting("watch.progress.interval.ms", "10000", "a quiet watch that asked for progress notifications gets"
          + " one this often: the revision it has seen everything up to"),
      new Setting("log.mirror", "true", "keep the applied log in kvraft.db (false: no SQLite log, for comparison)"),
      new Setting("raft.segment.bytes", "1048576", "size of a Ratis log segment; closed segments below a snapshot"
          + " are purged"),
      new Setting("raft.election.timeout.min.ms", "1000", "lower bound of the randomised election timeout"),
      new Setting("raft.election.timeout.max.ms", "2000", "upper bound of the randomised election timeout"),
      new Setting("raft.first.election.timeout.min.ms", "", "lower bound of the election timeout before this node"
          + " first knows a leader after it starts (empty: a fifth of raft.election.timeout.min.ms), so that a new or"
          + " restarted cluster elects sooner; it stands with a pre-vote, which nodes hearing from a leader refuse"),
      new Setting("raft.first.election.timeout.max.ms", "", "upper bound of the same (empty: a fifth of"
          + " raft.election.timeout.max.ms)"),
      new Setting("metrics.address", "auto",
          "host:port serving /metrics, /health and /ready over HTTP; auto: 127.0.0.1 on the client port + 2 (7381);"
              + " empty turns them off"),
      new Setting("tls.cert.file", "", "PEM certificate of this node (SAN or CN = its node id; SAN also its host name"
          + " or IP for clients); with tls.key.file and tls.ca.file, the client port, the Raft transport and the"
          + " forwarding link all run over TLS"),
      new Setting("tls.key.file", "", "PEM private key (unencrypted PKCS#8) of tls.cert.file"),
      new Setting("tls.ca.file", "", "PEM bundle of the CA every member's (and client's) certificate must chain to"),
      new Setting("tls.client.auth", "require", "with TLS on: none, request or require a client certificate chaining"
          + " to tls.ca.file on the client port (members' forwarding links always present theirs)"),
      new Setting("client.handshake.timeout.ms", "5000", "with TLS on: a client must finish its TLS handshake within"
          + " this, or it is disconnected"),
      new Setting("log.slow.ms", "1000", "a request at least this slow logs one line saying where its time went"),
      new Setting("join", "false", "start with an empty Raft group and wait to be added ('member add' on the"
          + " leader) instead of forming a cluster from 'cluster'; a restarted node uses the membership in its log"),
      new Setting("restore", "", "a backup file (kvsh backup): start a new cluster's node from it; refused when"
          + " data.dir already holds a node's data. Give it to every node, or to one node of a one-node cluster"
          + " that then adds the others"));

  private Settings() {
  }

  /** The default of a key of {@link #ALL}. */
  static String defaultOf(String key) {
    return ALL.stream().filter(s -> s.key().equals(key)).findFirst().orElseThrow().defaultValue();
  }
}
