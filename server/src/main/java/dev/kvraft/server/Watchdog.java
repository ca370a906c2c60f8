package dev.kvraft.server;

import dev.kvraft.server.config.ServerConfig;
import dev.kvraft.server.db.DatabaseLoop;
import dev.kvraft.server.db.HandOver;
import dev.kvraft.server.raft.RaftNode;
import java.io.IOException;
import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The node's watchdog: one thread, {@code kvraft-watchdog} (platform, daemon), that once a second until the node closes
 * <ul>
 *   <li>measures {@code data.dir} (every 5 s) and raises this node's NOSPACE alarm past {@code storage.quota.bytes} or
 *       under {@code storage.reserve.bytes} free ({@link #checkQuota});</li>
 *   <li>hands leadership over when this leader still replicates to removed nodes ({@link StrayFollowers});</li>
 *   <li>stops the node as a removed one (the {@code removed} hook, exit 0) when its configuration has left it out with
 *       no one telling it ({@link LeftOut}), or when Raft closed because it was removed;</li>
 *   <li>exits 1 when Raft stopped working (a log disk error, say), or when the database loop died (an exception while
 *       applying an entry, a bug): the node cannot serve anything correctly any more, and systemd
 *       (Restart=on-failure) restarts it.</li>
 * </ul>
 *
 * <p>Ownership: the watchdog thread owns the two checks' state ({@link StrayFollowers#seen}, {@link LeftOut}'s ticks)
 * and the refreshes of {@link DataSizes}; {@link #raisingAlarm} is set by it and cleared by the alarm's answer (Raft's
 * thread). The rest (the configuration, Raft, the loop, the hand-over) it only reads or calls, through methods any
 * thread may call.
 */
final class Watchdog {
  private static final Logger LOG = LoggerFactory.getLogger(Watchdog.class);

  private final ServerConfig config;
  private final RaftNode raft;
  private final DatabaseLoop loop;
  private final DataSizes dataSizes;
  private final HandOver handOver;
  /** Whether the node is closing: the thread then stops. */
  private final BooleanSupplier closed;
  /** What stops the node as a removed one (exit 0); read at each use, since Main replaces it after start. */
  private final Runnable removed;
  /** Set while this node's NOSPACE alarm is being raised (the watchdog thread sets, the answer clears). */
  private final AtomicBoolean raisingAlarm = new AtomicBoolean();
  private final StrayFollowers strayFollowers = new StrayFollowers();
  private final LeftOut leftOut = new LeftOut();

  Watchdog(ServerConfig config, RaftNode raft, DatabaseLoop loop, DataSizes dataSizes, HandOver handOver,
      BooleanSupplier closed, Runnable removed) {
    this.config = config;
    this.raft = raft;
    this.loop = loop;
    this.dataSizes = dataSizes;
    this.handOver = handOver;
    this.closed = closed;
    this.removed = removed;
  }

  /** Starts the watchdog thread; it ends once {@code closed} says so, or when it stops the node. */
  void start() {
    Thread.ofPlatform().name("kvraft-watchdog").daemon(true).start(() -> {
      for (long tick = 0; !closed.getAsBoolean(); tick++) {
        if (tick % 5 == 0) {
          dataSizes.refresh();
        }
        checkQuota(); // the free space every second: a disk can fill fast
        try {
          Thread.sleep(1000);
        } catch (InterruptedException e) {
          return;
        }
        if (!closed.getAsBoolean() && loop.died()) {
          LOG.error("node {}: its database loop stopped (see the error above); exiting so the service manager"
              + " restarts it", config.nodeId());
          Runtime.getRuntime().halt(1);
        }
        if (!closed.getAsBoolean()) {
          strayFollowers.check();
        }
        if (!closed.getAsBoolean() && raft.isAlive() && leftOut.removedWhileRunning()) {
          stopAsRemoved("is no longer in the cluster's configuration (members now " + memberIds() + "), and no leader"
              + " told it: the one that removed it stopped first");
          return;
        }
        if (!closed.getAsBoolean() && !raft.isAlive()) {
          if (raft.removed()) {
            // Not a failure: restarting it would not bring it back. Exit 0 so Restart=on-failure leaves it down.
            stopAsRemoved("was removed from the cluster (members now " + memberIds() + ")");
            return;
          }
          boolean removedByElection = closedAsNonMember(); // may wait a second: a stop may have begun meanwhile
          if (closed.getAsBoolean()) {
            return;
          }
          if (removedByElection) {
            stopAsRemoved("was removed from the cluster: the leader answered its vote request that the committed"
                + " configuration leaves it out (its own log had not reached the removal)");
            return;
          }
          LOG.error("node {}: Raft stopped working (see the errors above); exiting so the service manager"
              + " restarts it", config.nodeId());
          Runtime.getRuntime().halt(1);
        }
      }
    });
  }

  /**
   * Logs, in one line, that this node {@code what} and how to bring it back, then stops it as a removed node (exit 0,
   * so that Restart=on-failure leaves it down).
   */
  private void stopAsRemoved(String what) {
    LOG.warn("node {} {}; it stops serving. To bring it back, wipe its data directory and add it again with 'member add'"
        + " and --join", config.nodeId(), what);
    removed.run();
  }

  private List<String> memberIds() {
    return raft.members().stream().map(m -> m.id()).toList();
  }

  /**
   * Whether Ratis closed this node as not a member when it stood for election (Ratis's shouldShutdown vote reply),
   * its own log not showing the removal yet: then it is a removal, not a failure. Waits up to a second for Ratis's
   * notice, which follows its close.
   */
  private boolean closedAsNonMember() {
    try {
      return raft.closedAsNonMember(Duration.ofSeconds(1));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  /**
   * Past storage.quota.bytes, or with less than storage.reserve.bytes free on data.dir's disk, raise this node's
   * NOSPACE alarm (once; again after a disarm). The reserve turns a disk about to fill up, which would stop Raft and the
   * node, into the alarm: writes are refused, reads and deletes go on.
   */
  private void checkQuota() {
    long total = dataSizes.latest().getTotalBytes();
    long free = freeBytes();
    boolean overQuota = total > config.storageQuotaBytes();
    if ((!overQuota && free >= config.storageReserveBytes()) || loop.alarmsRaisedFor().contains(config.nodeId())
        || !raisingAlarm.compareAndSet(false, true)) {
      return;
    }
    var reason = overQuota ? "data.dir holds " + total + " bytes, over storage.quota.bytes " + config.storageQuotaBytes()
        : "only " + free + " bytes are free on data.dir's disk, under storage.reserve.bytes "
            + config.storageReserveBytes();
    LOG.warn("node {}: {}; raising the cluster's NOSPACE alarm: writes that add data will be refused until data is"
        + " deleted or space freed and 'kvsh alarm disarm' is run", config.nodeId(), reason);
    try {
      loop.raiseNoSpace(reason, r -> {
        raisingAlarm.set(false);
        if (r.hasError()) {
          LOG.warn("node {}: raising the NOSPACE alarm failed ({}); trying again in 5 s", config.nodeId(),
              r.getError().getMessage());
        }
      });
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      raisingAlarm.set(false);
    }
  }

  /** Usable bytes on data.dir's file system (Long.MAX_VALUE when it cannot be read: no alarm for that). */
  private long freeBytes() {
    try {
      return Files.getFileStore(config.dataDir()).getUsableSpace();
    } catch (IOException e) {
      return Long.MAX_VALUE;
    }
  }

  /**
   * The repair of {@link RaftNode#strayFollowers}: a leader still replicating to a node that is no longer a member
   * hands leadership to a voter, whose fresh leadership follows members only. The removed node then stops hearing
   * from a leader, asks for votes, is told it is not a member, and stops (exit 0); and it can be added again. It acts
   * on the second tick in a row that sees the same strays, so a change that just finished is not mistaken for one.
   * Owned by the watchdog thread.
   */
  private final class StrayFollowers {
    private List<String> seen = List.of();

    void check() {
      var strays = raft.strayFollowers();
      if (strays.isEmpty() || !strays.equals(seen)) {
        seen = strays;
        return;
      }
      seen = List.of(); // act once; a hand-over that did not happen is seen again in two ticks
      handOver.handOver(new HandOver.Reason.Strays(strays));
    }
  }

  /**
   * A removal no one announced. A leader tells the node it removes, and a removed leader sees itself out when Ratis
   * closes it; but when the leader that removed a follower dies first, the follower may take the configuration that
   * leaves it out from the next leader and then stay, with Ratis still running, a follower outside the configuration
   * that stands for no election and hears from no one. This says so once the node, having been a member (in a
   * committed configuration) since it started, has been left out for three ticks in a row. A node started with --join
   * is left out until it is added (its log's configurations name the others only), and an add cut short by a leader
   * change may be undone, so only a committed membership counts. Owned by the watchdog thread.
   */
  private final class LeftOut {
    private boolean wasMember;
    private int ticks;

    boolean removedWhileRunning() {
      if (!raft.removed()) {
        wasMember |= raft.committedMember();
        ticks = 0;
        return false;
      }
      return wasMember && ++ticks >= 3;
    }
  }
}
