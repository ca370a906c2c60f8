package dev.kvraft.server.net;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class AcceptBackoffTest {
  private long now = 1;
  private final AcceptBackoff backoff = new AcceptBackoff(() -> now);

  @Test
  void failingAcceptsWaitLongerAndLongerUpToASecondAndASuccessResetsIt() {
    var waits = new ArrayList<Long>();
    for (int i = 0; i < 10; i++) {
      waits.add(backoff.failed());
    }
    assertEquals(java.util.List.of(10L, 20L, 40L, 80L, 160L, 320L, 640L, 1000L, 1000L, 1000L), waits);
    backoff.succeeded();
    assertEquals(10, backoff.failed(), "a new run of failures starts small again");
  }

  @Test
  void failuresAreReportedAtMostOnceASecondWithTheirCount() {
    backoff.failed();
    var first = backoff.report("EMFILE");
    assertNotNull(first, "the first failure is reported at once");
    assertEquals(1, first.failures());
    for (int i = 0; i < 599_999; i++) {
      backoff.failed();
      now += TimeUnit.MICROSECONDS.toNanos(1);
      assertNull(backoff.report("EMFILE"), "no second line within the second");
    }
    now += TimeUnit.SECONDS.toNanos(1);
    var next = backoff.report("EMFILE");
    assertEquals(599_999, next.failures(), "the next line counts every failure since the last");
    assertEquals(AcceptBackoff.MAX_MILLIS, next.waitMillis());
  }
}
