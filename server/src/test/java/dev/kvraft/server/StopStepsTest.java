package dev.kvraft.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.ArrayList;
import org.junit.jupiter.api.Test;

/**
 * A node's stop runs every step whatever the ones before it did. Before, a hand-over or a Ratis close that threw ended
 * {@code KvraftServer.close} there, and the node's link to the leader, its client port and its loop stayed running.
 */
class StopStepsTest {
  @Test
  void aStepThatThrowsDoesNotStopTheStepsAfterIt() {
    var ran = new ArrayList<String>();
    var steps = new StopSteps("n1");
    steps.run("handing leadership over", () -> {
      ran.add("hand over");
      throw new IllegalStateException("no leader to hand over to");
    });
    steps.run("closing Raft", () -> {
      ran.add("raft");
      throw new IOException("disk gone");
    });
    steps.run("closing the link to the leader", () -> ran.add("link"));
    steps.finish();
    assertEquals(java.util.List.of("hand over", "raft", "link"), ran);
    assertEquals(2, steps.failed());
    assertFalse(Thread.currentThread().isInterrupted());
  }

  /** Runs {@code first}, then a step that records whether the interrupt flag was set when it ran, then finish. */
  private static void assertInterruptEndsOnlyItsStep(StopSteps.Step first, int failures) {
    var later = new ArrayList<Boolean>();
    var steps = new StopSteps("n1");
    steps.run("closing Raft", first);
    steps.run("closing the client connections", () -> later.add(Thread.currentThread().isInterrupted()));
    steps.finish();
    try {
      assertEquals(java.util.List.of(false), later, "the next step ran, its waits not cut short by the interrupt");
      assertEquals(failures, steps.failed());
      assertTrue(Thread.currentThread().isInterrupted(), "the interrupt is set again at the end, not lost");
    } finally {
      Thread.interrupted();
    }
  }

  @Test
  void aStepInterruptedWhileItWaitedEndsThereAndTheRestRun() {
    assertInterruptEndsOnlyItsStep(() -> {
      throw new InterruptedException();
    }, 0);
  }

  @Test
  void aStepThatCaughtAnInterruptAndSetTheFlagAgainIsTreatedTheSame() {
    // RaftNode.close does this: it catches the interrupt of its wait for Ratis and sets the flag again.
    assertInterruptEndsOnlyItsStep(() -> Thread.currentThread().interrupt(), 0);
  }

  @Test
  void aStepThatSetTheFlagAndThenFailedIsCountedAndItsInterruptKept() {
    // Found by review: the flag was cleared only when the step returned, so here the next steps ran interrupted (the
    // client connections' close then gave up at its first wait and left them open).
    assertInterruptEndsOnlyItsStep(() -> {
      Thread.currentThread().interrupt();
      throw new IOException("Ratis's close thread failed");
    }, 1);
  }
}
