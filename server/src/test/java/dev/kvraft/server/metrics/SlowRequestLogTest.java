package dev.kvraft.server.metrics;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import org.junit.jupiter.api.Test;

class SlowRequestLogTest {
  private static final long MS = 1_000_000L;

  @Test
  void fastRequestLogsNothing() {
    var lines = new ArrayList<String>();
    var log = SlowRequestLog.of(1000, lines::add);
    assertFalse(log.record("PUT", "k", "127.0.0.1:7", 300 * MS, 300 * MS, 399 * MS));
    assertTrue(lines.isEmpty());
  }

  @Test
  void slowRequestLogsOneLineWithSplit() {
    var lines = new ArrayList<String>();
    var log = SlowRequestLog.of(1000, lines::add);
    assertTrue(log.record("PUT", "user:1", "127.0.0.1:7", 100 * MS, 800 * MS, 100 * MS));
    assertEquals(1, lines.size());
    assertEquals("slow request: PUT key=user:1 conn=127.0.0.1:7 total=1000ms queue=100ms raft=800ms apply=100ms"
        + " (threshold log.slow.ms=1000)", lines.get(0));
  }

  @Test
  void longKeyIsTruncated() {
    var lines = new ArrayList<String>();
    SlowRequestLog.of(1, lines::add).record("GET", "x".repeat(500), "c", 0, 2 * MS, 0);
    assertTrue(lines.get(0).contains("key=" + "x".repeat(SlowRequestLog.MAX_KEY_CHARS) + "... "), lines.get(0));
    assertFalse(lines.get(0).contains("x".repeat(SlowRequestLog.MAX_KEY_CHARS + 1)));
  }

  @Test
  void rejectsNonPositiveThreshold() {
    var e = assertThrows(IllegalArgumentException.class, () -> SlowRequestLog.of(0, s -> { }));
    assertTrue(e.getMessage().contains("got 0"));
  }
}
