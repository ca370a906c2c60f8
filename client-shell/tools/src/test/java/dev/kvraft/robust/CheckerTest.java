package dev.kvraft.robust;

import static dev.kvraft.robust.Operation.UNKNOWN_END;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

class CheckerTest {
  private final Checker checker = new Checker();

  private static Operation put(int c, String v, long from, long to) {
    return Operation.put(c, "x", v, from, to);
  }

  private static Operation get(int c, String v, long from, long to) {
    return Operation.get(c, "x", v, from, to);
  }

  @Test
  void sequentialHistoryIsLinearizable() {
    var r = checker.check(List.of(put(1, "1", 0, 10), get(2, "1", 20, 30), put(1, "2", 40, 50),
        get(2, "2", 60, 70)));
    assertTrue(r.linearizable(), r.report());
  }

  @Test
  void aReadOverlappingAWriteMaySeeEitherValue() {
    for (var seen : new String[] {"1", "2"}) {
      var r = checker.check(List.of(put(1, "1", 0, 10), put(1, "2", 20, 50), get(2, seen, 30, 40)));
      assertTrue(r.linearizable(), seen + ": " + r.report());
    }
  }

  @Test
  void aStaleReadIsCaught() {
    var r = checker.check(List.of(put(1, "1", 0, 10), put(1, "2", 20, 30), get(2, "1", 40, 50)));
    assertFalse(r.linearizable());
    assertEquals("x", r.key());
    assertTrue(r.report().contains("c2 get(x) = 1"), r.report());
    assertTrue(r.report().contains("c1 put(x, 1) = ok") && r.report().contains("c1 put(x, 2) = ok"), r.report());
    assertEquals(3, r.counterexample().size(), r.report());
  }

  @Test
  void theCounterexampleDropsWhatDoesNotMatter() {
    var r = checker.check(List.of(put(1, "1", 0, 10), get(3, "1", 12, 14), put(4, "9", 15, 16),
        put(1, "2", 20, 30), get(3, "2", 32, 34), get(2, "1", 40, 50)));
    assertFalse(r.linearizable());
    assertEquals(3, r.counterexample().size(), r.report());
  }

  @Test
  void aLostUpdateIsCaught() {
    // Both compare-and-sets from 0 succeed: one of them must have overwritten the other's effect.
    var r = checker.check(List.of(put(1, "0", 0, 10), Operation.cas(2, "x", "0", "a", true, 20, 40),
        Operation.cas(3, "x", "0", "b", true, 25, 45)));
    assertFalse(r.linearizable(), r.report());
    var ok = checker.check(List.of(put(1, "0", 0, 10), Operation.cas(2, "x", "0", "a", true, 20, 40),
        Operation.cas(3, "x", "0", "b", false, 25, 45), get(1, "a", 50, 60)));
    assertTrue(ok.linearizable(), ok.report());
  }

  @Test
  void aValueNobodyWroteIsCaught() {
    assertFalse(checker.check(List.of(put(1, "1", 0, 10), get(2, "7", 20, 30))).linearizable());
    assertFalse(checker.check(List.of(get(2, "7", 20, 30))).linearizable());
    assertTrue(checker.check(List.of(get(2, null, 20, 30))).linearizable(), "an absent key reads as absent");
  }

  @Test
  void anUnknownWriteMayTakeEffectLaterOrNever() {
    var later = checker.check(List.of(put(1, "1", 0, UNKNOWN_END), get(2, null, 5, 6), get(2, "1", 100, 110)));
    assertTrue(later.linearizable(), later.report());
    var never = checker.check(List.of(put(1, "1", 0, UNKNOWN_END), get(2, null, 100, 110)));
    assertTrue(never.linearizable(), never.report());
    var backwards = checker.check(List.of(put(1, "1", 0, UNKNOWN_END), get(2, "1", 5, 6), get(2, null, 100, 110)));
    assertFalse(backwards.linearizable(), "once seen, an unknown write cannot be undone:\n" + backwards.report());
  }

  @Test
  void deletesAndTheirCounts() {
    assertTrue(checker.check(List.of(put(1, "1", 0, 10), Operation.delete(2, "x", true, 20, 30),
        get(1, null, 40, 50))).linearizable());
    assertFalse(checker.check(List.of(put(1, "1", 0, 10), Operation.delete(2, "x", false, 20, 30)))
        .linearizable(), "deleting an existing key deletes one");
  }

  @Test
  void keysAreCheckedIndependentlyAndTheFailingOneIsNamed() {
    var r = checker.check(List.of(Operation.put(1, "a", "1", 0, 10), Operation.get(2, "a", "1", 20, 30),
        Operation.put(1, "b", "1", 0, 10), Operation.put(1, "b", "2", 20, 30), Operation.get(3, "b", "1", 40, 50)));
    assertFalse(r.linearizable());
    assertEquals("b", r.key());
  }

  /** A real register run by 8 simulated clients with overlapping operations: always linearizable, and fast. */
  @Test
  @Timeout(20)
  void aLargeConcurrentLinearizableHistoryPassesQuickly() {
    var random = new Random(42);
    var history = new ArrayList<Operation>();
    String value = null;
    long t = 0;
    for (int i = 0; i < 2000; i++) {
      int client = random.nextInt(8);
      // The effect happens at time t; the operation spans some time around it, overlapping its neighbours.
      long from = t - random.nextInt(30);
      long to = t + random.nextInt(30);
      switch (random.nextInt(4)) {
        case 0 -> {
          value = Integer.toString(random.nextInt(5));
          history.add(Operation.put(client, "x", value, from, to));
        }
        case 1 -> history.add(Operation.get(client, "x", value, from, to));
        case 2 -> {
          var expected = random.nextBoolean() ? value : "nope";
          var next = Integer.toString(random.nextInt(5));
          boolean ok = java.util.Objects.equals(value, expected);
          if (ok) {
            value = next;
          }
          history.add(Operation.cas(client, "x", expected, next, ok, from, to));
        }
        default -> {
          boolean existed = value != null;
          value = null;
          history.add(Operation.delete(client, "x", existed, from, to));
        }
      }
      t += 10;
    }
    var r = checker.check(history);
    assertTrue(r.linearizable(), r.report());
  }
}
