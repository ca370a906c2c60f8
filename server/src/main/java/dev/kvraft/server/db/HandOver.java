package dev.kvraft.server.db;

import dev.kvraft.server.config.ServerConfig;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A leader giving its leadership away unasked, for one of three {@link Reason}s: a graceful stop, followers left over
 * from a removal (the watchdog's repair), a learner's promotion. One piece for the three: the target (the most
 * up-to-date voter heard within an election timeout, {@link Consensus#mostUpToDateFollower}; for a promotion, not the
 * promoted node), the call id (far from the database loop's, which count up from 1, except a promotion's, which the
 * loop takes on its thread), the timeout (twice the maximum election timeout; a stop's is its own) and the reason's log
 * lines. Best effort: every outcome is logged, none thrown.
 *
 * <p>Threads: {@link #handOver} runs on its caller's thread and waits (the stopping thread, the watchdog);
 * {@link #handOverAsync} chooses on its caller's thread (Raft's, for a promotion) and logs the outcome from Raft's. The
 * only state, the next call id of a hand-over for strays, is taken atomically by whichever thread starts one (the
 * watchdog's).
 */
public final class HandOver {
  private static final Logger LOG = LoggerFactory.getLogger(HandOver.class);
  /** A graceful stop's call id: far from the database loop's, never reused (one hand-over per stop). */
  private static final long STOP_CALL = Long.MAX_VALUE / 2;

  /** Why leadership is handed over: the call id, the timeout, the target and the log lines depend on it. */
  public sealed interface Reason {
    /** A graceful stop, handing over within {@code timeoutMs} when the others would be a quorum without this node. */
    record Stop(long timeoutMs) implements Reason {}

    /** The watchdog saw this leader replicate to {@code strays}, no longer members, twice in a row. */
    record Strays(List<String> strays) implements Reason {}

    /** {@code promoted} became a voter (it cannot lead yet); {@code callId} is the loop's. */
    record Promotion(String promoted, long callId) implements Reason {}
  }

  private final ServerConfig config;
  private final Consensus raft;
  /** Call ids of hand-overs for strays: far above the database loop's and below the graceful stop's. */
  private final AtomicLong nextStraysCall = new AtomicLong(Long.MAX_VALUE / 4);

  public HandOver(ServerConfig config, Consensus raft) {
    this.config = config;
    this.raft = raft;
  }

  /** Hands leadership over for {@code reason} and waits for the outcome (its timeout and 500 ms at most). */
  public void handOver(Reason reason) {
    var to = target(reason);
    if (to.isEmpty()) {
      return;
    }
    long timeoutMs = timeoutMs(reason);
    try {
      raft.transferLeadership(callId(reason), to.get(), timeoutMs).get(timeoutMs + 500, TimeUnit.MILLISECONDS);
      handed(reason, to.get());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt(); // the caller's to act on (a stop goes on without waiting further)
      failed(reason, to.get(), "interrupted while waiting for the transfer");
    } catch (Exception e) {
      failed(reason, to.get(), e.toString());
    }
  }

  /** Starts handing leadership over for {@code reason}; the outcome is logged when Raft answers. */
  public void handOverAsync(Reason reason) {
    var to = target(reason);
    if (to.isEmpty()) {
      return;
    }
    raft.transferLeadership(callId(reason), to.get(), timeoutMs(reason)).whenComplete((done, e) -> {
      if (e != null) {
        failed(reason, to.get(), Failures.consensus(e).getMessage());
      } else {
        handed(reason, to.get());
      }
    });
  }

  /** Whom leadership goes to, saying so (or why no one); empty when it stays. */
  private Optional<String> target(Reason reason) {
    long heardWithin = config.electionTimeoutMin().toMillis();
    var node = config.nodeId();
    switch (reason) {
      case Reason.Stop s -> {
        if (!stopWorthIt(heardWithin)) {
          return Optional.empty();
        }
        return raft.mostUpToDateFollower(heardWithin).map(Consensus.Follower::id);
      }
      case Reason.Strays s -> {
        var target = raft.mostUpToDateFollower(heardWithin).map(Consensus.Follower::id);
        if (target.isEmpty()) {
          LOG.warn("node {} leads but still replicates to {}, which are no longer members (it was elected in the"
              + " middle of a membership change); no other voter answers to take over, so they keep receiving the log"
              + " until the next election", node, s.strays());
        } else {
          LOG.warn("node {} leads but still replicates to {}, which are no longer members (it was elected in the"
              + " middle of a membership change, and Ratis kept the old configuration's followers); handing"
              + " leadership to {} so that the removed nodes stop and can be added again", node, s.strays(),
              target.get());
        }
        return target;
      }
      case Reason.Promotion p -> {
        var target = raft.mostUpToDateFollower(heardWithin, p.promoted()).map(Consensus.Follower::id);
        if (target.isEmpty()) {
          LOG.warn("node {}: {} is a voter now, but it cannot vote until the next leader is elected (a flaw of Ratis"
              + " 3.3.0 with promoted learners) and no other voter answers to take over; restart {} so that it"
              + " votes", node, p.promoted(), p.promoted());
        } else {
          LOG.info("node {}: hands leadership to {} so that the promoted {} may vote (a flaw of Ratis 3.3.0: a"
              + " promoted learner votes only once a new leader has written to it)", node, target.get(), p.promoted());
        }
        return target;
      }
    }
  }

  /**
   * A stopping leader hands over so that the others need not wait an election timeout to notice it is gone (a rolling
   * restart causes no election timeout), but only when the followers that answer would still be a quorum without it.
   */
  private boolean stopWorthIt(long heardWithin) {
    var voterIds = raft.members().stream().filter(Consensus.Member::voter).map(Consensus.Member::id).toList();
    long voters = voterIds.size();
    if (!raft.isLeader() || voters < 2) {
      return false;
    }
    long live = raft.followers().stream().filter(f -> f.lastHeardMs() <= heardWithin && voterIds.contains(f.id()))
        .count();
    if (live < voters / 2 + 1) {
      // Without this node the others are no quorum: a hand-over would only make a leader that must step down (and
      // then delays the election once a peer is back).
      LOG.info("node {} stops as leader without handing over: {} of its followers answer, too few to lead"
          + " without it", config.nodeId(), live);
      return false;
    }
    return true;
  }

  private long callId(Reason reason) {
    return switch (reason) {
      case Reason.Stop s -> STOP_CALL;
      case Reason.Strays s -> nextStraysCall.getAndIncrement();
      case Reason.Promotion p -> p.callId();
    };
  }

  private long timeoutMs(Reason reason) {
    return reason instanceof Reason.Stop s ? s.timeoutMs() : config.electionTimeoutMax().toMillis() * 2;
  }

  private void handed(Reason reason, String to) {
    if (reason instanceof Reason.Stop) {
      LOG.info("node {} handed leadership to {} before stopping", config.nodeId(), to);
    }
  }

  private void failed(Reason reason, String to, String why) {
    var node = config.nodeId();
    switch (reason) {
      case Reason.Stop s -> LOG.warn("node {}: could not hand leadership to {} before stopping ({}); the others will"
          + " elect a leader after an election timeout", node, to, why);
      case Reason.Strays s -> LOG.warn("node {}: could not hand leadership to {} ({}); trying again", node, to, why);
      case Reason.Promotion p -> LOG.warn("node {}: could not hand leadership to {} after promoting {} ({}); {} votes"
          + " once another leader is elected, or after its restart", node, to, p.promoted(), why, p.promoted());
    }
  }
}
