package dev.kvraft.server.raft;

import dev.kvraft.server.config.ServerConfig;
import dev.kvraft.server.db.DatabaseLoop;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.ratis.RaftConfigKeys;
import org.apache.ratis.conf.RaftProperties;
import org.apache.ratis.netty.NettyConfigKeys;
import org.apache.ratis.rpc.SupportedRpcType;
import org.apache.ratis.server.RaftServerConfigKeys;
import org.apache.ratis.util.SizeInBytes;
import org.apache.ratis.util.TimeDuration;

/**
 * The Ratis settings kvraft runs with, from its own configuration. Where a setting's reason is not plain from the
 * configuration key it comes from, it is written beside it; all of them are listed in server/DESIGN.md
 * "Configuration of Ratis" (with the measurements in BENCHMARKS.md), and what Ratis 3.3.0 does with them in
 * DESIGN.md "Ratis 3.3.0 facts".
 */
final class RatisProperties {
  private RatisProperties() {}

  /** The Ratis settings for a node with this configuration (TLS, when on, is added by its transport). */
  static RaftProperties of(ServerConfig config) {
    var p = new RaftProperties();
    RaftServerConfigKeys.setStorageDir(p, List.of(config.dataDir().resolve("ratis").toFile()));
    RaftConfigKeys.Rpc.setType(p, SupportedRpcType.NETTY);
    NettyConfigKeys.Server.setHost(p, config.self().host());
    NettyConfigKeys.Server.setPort(p, config.self().peerPort());
    RaftServerConfigKeys.Read.setOption(p, RaftServerConfigKeys.Read.Option.LINEARIZABLE);
    RaftServerConfigKeys.Read.setTimeout(p, TimeDuration.valueOf(config.requestTimeout().toMillis(),
        TimeUnit.MILLISECONDS));
    RaftServerConfigKeys.Rpc.setTimeoutMin(p, TimeDuration.valueOf(config.electionTimeoutMin().toMillis(),
        TimeUnit.MILLISECONDS));
    RaftServerConfigKeys.Rpc.setTimeoutMax(p, TimeDuration.valueOf(config.electionTimeoutMax().toMillis(),
        TimeUnit.MILLISECONDS));
    // Until it first knows a leader (a new cluster, or all of one restarted), a node stands sooner: without it a new
    // cluster waited 1-2 s for its first election. Pre-vote (Ratis's default) keeps a node that restarts into a
    // running cluster from disturbing its leader: a follower that heard from the leader within the minimum election
    // timeout refuses it. After an election refused the usual timeouts apply; one nobody answered is tried again at
    // this pace.
    RaftServerConfigKeys.Rpc.setFirstElectionTimeoutMin(p, TimeDuration.valueOf(
        config.firstElectionTimeoutMin().toMillis(), TimeUnit.MILLISECONDS));
    RaftServerConfigKeys.Rpc.setFirstElectionTimeoutMax(p, TimeDuration.valueOf(
        config.firstElectionTimeoutMax().toMillis(), TimeUnit.MILLISECONDS));
    // Snapshots every snapshot.threshold entries, staggered across the nodes by SnapshotManager; the newest two
    // kept; closed segments below one purged.
    RaftServerConfigKeys.Snapshot.setAutoTriggerEnabled(p, true);
    RaftServerConfigKeys.Snapshot.setAutoTriggerThreshold(p, config.snapshotThreshold());
    RaftServerConfigKeys.Snapshot.setRetentionFileNum(p, SnapshotManager.KEEP);
    RaftServerConfigKeys.Log.setPurgeUptoSnapshotIndex(p, true);
    RaftServerConfigKeys.Log.setPurgeGap(p, (int) Math.min(1024, config.snapshotThreshold()));
    RaftServerConfigKeys.Log.setSegmentSizeMax(p, SizeInBytes.valueOf(config.segmentBytes()));
    RaftServerConfigKeys.Log.setPreallocatedSize(p, SizeInBytes.valueOf(Math.min(4L << 20, config.segmentBytes())));
    // Ratis keeps the entries of the open segment and of up to this many closed ones on the heap (default 6). With
    // 1 MiB segments, two closed ones cover a follower a GC pause behind; an entry then leaves the heap within about a
    // second instead of living through young collections until six 8 MiB segments have passed (measured: p99 of puts
    // at 15,000/s about 86 ms against 103 ms with the defaults; BENCHMARKS.md).
    RaftServerConfigKeys.Log.setSegmentCacheNumMax(p, 2);
    // One entry is at most DatabaseLoop.MAX_ENTRY_BYTES plus one request; the appender must fit two of them.
    var appender = SizeInBytes.valueOf(2L * (DatabaseLoop.MAX_ENTRY_BYTES + config.limits().maxFrameBytes()));
    RaftServerConfigKeys.Log.Appender.setBufferByteLimit(p, appender);
    RaftServerConfigKeys.Log.setWriteBufferSize(p, SizeInBytes.valueOf(appender.getSize() + 8));
    // No METADATA entry after every commit: each one cost a second log write, fsync and replication round per
    // write batch (measured: one client's sequential puts went from p50 1.1 ms to 0.85 ms without them). They only
    // let a restarted node apply up to the old commit index before it hears from a leader; safety does not depend
    // on them. See DESIGN.md "Configuration of Ratis".
    RaftServerConfigKeys.Log.setLogMetadataEnabled(p, false);
    // A member being added that does not answer (not started with --join, a wrong address) fails the change after
    // this, well inside the request's deadline, and Ratis takes the next change; the configuration stays as it was.
    RaftServerConfigKeys.setStagingTimeout(p, TimeDuration.valueOf(Math.max(1000, config.requestTimeout().toMillis()
        / 2), TimeUnit.MILLISECONDS));
    return p;
  }
}
