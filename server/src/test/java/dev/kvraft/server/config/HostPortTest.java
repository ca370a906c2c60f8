package dev.kvraft.server.config;

import static org.junit.jupiter.api.Assertions.*;

import dev.kvraft.proto.HostPort;
import org.junit.jupiter.api.Test;

/** The one host:port parser (proto's HostPort), as the client, the cluster setting and the metrics address use it. */
class HostPortTest {
  @Test
  void namesIpv4AndBracketedIpv6Parse() {
    assertEquals(new HostPort("db1.example.net", 7379), HostPort.parse("db1.example.net:7379"));
    assertEquals(new HostPort("127.0.0.1", 1), HostPort.parse(" 127.0.0.1:1 "));
    var v6 = HostPort.parse("[::1]:7379");
    assertEquals("::1", v6.host());
    assertEquals("[::1]:7379", v6.toString(), "written back as it was given");
  }

  @Test
  void badTextIsRefusedWithAMessageNamingIt() {
    for (var bad : new String[] {"", "7379", ":7379", "host:", "host:x", "::1:7379", "a b:1", "a,b:1", "host:70000",
        "[::1:7379"}) {
      var e = assertThrows(IllegalArgumentException.class, () -> HostPort.parse(bad), bad);
      assertTrue(e.getMessage().contains("'"), "the message names what was wrong: " + e.getMessage());
    }
  }

  @Test
  void portZeroIsAListenAddressOnly() {
    assertEquals(0, HostPort.parseListen("127.0.0.1:0").port());
    assertThrows(IllegalArgumentException.class, () -> HostPort.parse("127.0.0.1:0"));
  }

  @Test
  void theClusterSettingAndTheMetricsAddressUseIt() {
    var p = PeerSpec.parse("n1=[::1]:7379:7380");
    assertEquals("::1", p.host());
    var e = assertThrows(IllegalArgumentException.class, () -> PeerSpec.parse("n1=::1:7379:7380"));
    assertTrue(e.getMessage().contains("brackets"), e.getMessage());
    assertThrows(IllegalArgumentException.class,
        () -> dev.kvraft.server.metrics.MetricsAddress.parse("0.0.0.0:nine", 7379));
  }
}
