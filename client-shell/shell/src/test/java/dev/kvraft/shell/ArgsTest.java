package dev.kvraft.shell;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class ArgsTest {
  @Test
  void flagsAndPositionals() {
    var a = Args.parse(List.of("p/", "--limit", "5", "--keys-only", "--rev"), Set.of("keys-only", "rev"),
        Set.of("limit"));
    assertEquals(List.of("p/"), a.positional());
    assertEquals(5, a.number("limit", 100));
    assertTrue(a.has("keys-only"));
    assertEquals(7, Args.parse(List.of("--limit=7"), Set.of(), Set.of("limit")).number("limit", 1));
  }

  @Test
  void doubleDashEndsFlags() {
    var a = Args.parse(List.of("--", "--not-a-flag"), Set.of(), Set.of());
    assertEquals(List.of("--not-a-flag"), a.positional());
  }

  @Test
  void mistakesAreUsageErrors() {
    assertThrows(UsageException.class, () -> Args.parse(List.of("--bogus"), Set.of("rev"), Set.of()));
    assertThrows(UsageException.class, () -> Args.parse(List.of("--limit"), Set.of(), Set.of("limit")));
    assertThrows(UsageException.class, () -> Args.parse(List.of("--limit=-1"), Set.of(), Set.of("limit"))
        .number("limit", 0));
    assertThrows(UsageException.class, () -> Args.parse(List.of("a", "b"), Set.of(), Set.of()).expect(1, 1));
  }
}
