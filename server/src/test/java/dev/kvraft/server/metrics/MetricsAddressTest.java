package dev.kvraft.server.metrics;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Optional;
import org.junit.jupiter.api.Test;

class MetricsAddressTest {
  @Test
  void absentDefaultsToClientPortPlusTwo() {
    assertEquals(Optional.of(new MetricsAddress("127.0.0.1", 7002)), MetricsAddress.parse(null, 7000));
  }

  @Test
  void emptyTurnsMetricsOff() {
    assertEquals(Optional.empty(), MetricsAddress.parse("", 7000));
    assertEquals(Optional.empty(), MetricsAddress.parse("  ", 7000));
  }

  @Test
  void parsesHostPortAndBracketedIpv6() {
    assertEquals(Optional.of(new MetricsAddress("0.0.0.0", 9100)), MetricsAddress.parse("0.0.0.0:9100", 7000));
    assertEquals(Optional.of(new MetricsAddress("::1", 9100)), MetricsAddress.parse("[::1]:9100", 7000));
  }

  @Test
  void badValuesNameTheValue() {
    for (var bad : new String[] {"9100", ":9100", "host:", "host:abc", "host:70000"}) {
      var e = assertThrows(IllegalArgumentException.class, () -> MetricsAddress.parse(bad, 7000), bad);
      assertTrue(e.getMessage().contains("metrics.address"), e.getMessage());
    }
  }
}
