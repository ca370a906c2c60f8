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
    steps.run("handed leadership over", () -> {
      ran.add("hand over");
      throw new IllegalStateException("no leader to hand over to");
    });
    steps.run("closed Raft", () -> {
      ran.add("raft");
      throw new IOException("disk gone");
    });
    steps.run("closed the link to the leader", () -> ran.add("link"));
    steps.finish();
    assertEquals(java.util.List.of("hand over", "raft", "link"), ran);
    assertEquals(2, steps.failed());
    assertFalse(Thread.currentThread().isInterrupted());
  }

  @Test
  void anInterruptEndsOnlyItsStepAndIsSetAgainAtTheEnd() {
    var ran = new ArrayList<String>();
    var steps = new StopSteps("n1");
    steps.run("waited for in-flight writes", () -> {
      ran.add("wait");
      throw new InterruptedException();
    });
    steps.run("closed the database loop", () -> {
      // The later steps run with the flag clear, so a wait in them is not cut short by the earlier interrupt.
      ran.add(Thread.currentThread().isInterrupted() ? "loop, interrupted" : "loop");
    });
    steps.run("closed Raft", () -> Thread.currentThread().interrupt()); // caught inside, the flag set again
    steps.run("closed the link to the leader", () -> {
      ran.add(Thread.currentThread().isInterrupted() ? "link, interrupted" : "link");
    });
    steps.finish();
    try {
      assertEquals(java.util.List.of("wait", "loop", "link"), ran);
      assertEquals(0, steps.failed());
      assertTrue(Thread.currentThread().isInterrupted(), "the interrupt is not lost");
    } finally {
      Thread.interrupted();
    }
  }
}
