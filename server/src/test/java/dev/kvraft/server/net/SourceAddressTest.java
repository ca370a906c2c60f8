package dev.kvraft.server.net;

import static org.junit.jupiter.api.Assertions.*;

import dev.kvraft.server.config.ServerConfig;
import java.net.InetAddress;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** How limit.connections.per.address groups client addresses, and what its auto value comes to. */
class SourceAddressTest {
  private static SourceAddress of(String address) throws Exception {
    return SourceAddress.of(InetAddress.getByName(address));
  }

  @Test
  void anIpv6HostCountsAsItsSlash64AndAMappedIpv4AsTheIpv4() throws Exception {
    assertEquals(of("2001:db8:0:1::1"), of("2001:db8:0:1:ffff::2"), "one /64: one host");
    assertNotEquals(of("2001:db8:0:1::1"), of("2001:db8:0:2::1"));
    assertEquals("2001:db8:0:1::/64", of("2001:db8:0:1::1").toString());
    assertEquals(of("192.0.2.7"), SourceAddress.of(InetAddress.getByAddress(new byte[] {0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        (byte) 0xff, (byte) 0xff, (byte) 192, 0, 2, 7})));
    assertNotEquals(of("192.0.2.7"), of("192.0.2.8"));
    assertEquals("192.0.2.7", of("192.0.2.7").toString());
  }

  @Test
  void autoIsAQuarterOfTheConnectionsAtLeast100AndAGivenValueIsKept() {
    var auto = ServerConfig.fromMap(Map.of("node.id", "n1", "cluster", "n1=127.0.0.1:7001:7002")).connections();
    assertEquals(2_500, auto.perAddressOf(10_000));
    assertEquals(100, auto.perAddressOf(200));
    assertEquals(3, auto.perAddressOf(3), "never more than all of them");
    var given = ServerConfig.fromMap(Map.of("node.id", "n1", "cluster", "n1=127.0.0.1:7001:7002",
        "limit.connections.per.address", "7")).connections();
    assertEquals(7, given.perAddressOf(10_000));
    var zero = assertThrows(IllegalArgumentException.class, () -> ServerConfig.fromMap(Map.of("node.id", "n1",
        "cluster", "n1=127.0.0.1:7001:7002", "limit.connections.per.address", "0")));
    assertTrue(zero.getMessage().contains("limit.connections.per.address"), zero.getMessage());
  }
}
