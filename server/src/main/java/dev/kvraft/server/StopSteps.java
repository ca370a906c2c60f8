package dev.kvraft.server;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The steps of a node's stop, run in order, each whatever the ones before it did: a step that throws is logged (one
 * line: which step, on which node, what went wrong) and the next one still runs, so that one failing close never
 * leaves the rest of the node (its client port, its link to the leader, its threads) running. An interrupt while a
 * step waits ends that step only, whether the step throws it or sets the flag again: the later steps run with the
 * flag clear, and {@link #finish} sets it again after the last step.
 *
 * <p>Owned by the one thread that stops the node; not thread-safe.
 */
final class StopSteps {
  private static final Logger LOG = LoggerFactory.getLogger(KvraftServer.class);

  /** One step of the stop. */
  @FunctionalInterface
  interface Step {
    void run() throws Exception;
  }

  private final String nodeId;
  private boolean interrupted;
  private int failed;

  StopSteps(String nodeId) {
    this.nodeId = nodeId;
  }

  /**
   * Runs {@code step}, named by what it does ("closing Raft"); if it throws, logs what failed and returns, so the
   * caller goes on with the next step.
   */
  void run(String what, Step step) {
    boolean wasInterrupted = false;
    try {
      step.run();
    } catch (InterruptedException e) {
      wasInterrupted = true;
    } catch (Exception e) {
      failed++;
      LOG.warn("node {}: {} failed ({}); going on with the rest of the stop", nodeId, what, e.toString());
    } finally {
      // A step that caught an interrupt and set the flag again (as RaftNode.close does), whether it then returned
      // or threw: the same as one that threw it. Cleared here, so the next step's waits are not cut short.
      wasInterrupted |= Thread.interrupted();
    }
    if (wasInterrupted) {
      interrupted = true;
      LOG.warn("node {}: interrupted while {}; going on with the rest of the stop", nodeId, what);
    }
  }

  /** How many steps threw (an interrupt not counted). */
  int failed() {
    return failed;
  }

  /** Sets the thread's interrupt flag again if a step was interrupted. */
  void finish() {
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }
}
