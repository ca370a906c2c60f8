package dev.kvraft.server.net;

import java.net.Inet6Address;
import java.net.InetAddress;
import java.util.Arrays;

/**
 * Where a client connects from, as {@code limit.connections.per.address} counts it: an IPv4 address, or an IPv6
 * address's /64 (one host usually holds a whole /64, so counting single IPv6 addresses would let it open as many
 * connections as it likes). An IPv4 address mapped into IPv6 counts as the IPv4 one. Immutable. Also what the Raft
 * TLS port counts its connections by.
 */
public record SourceAddress(byte[] prefix) {

  public static SourceAddress of(InetAddress address) {
    var bytes = address.getAddress();
    if (address instanceof Inet6Address && isIpv4Mapped(bytes)) {
      return new SourceAddress(Arrays.copyOfRange(bytes, 12, 16));
    }
    return new SourceAddress(address instanceof Inet6Address ? Arrays.copyOf(bytes, 8) : bytes);
  }

  private static boolean isIpv4Mapped(byte[] b) {
    for (int i = 0; i < 10; i++) {
      if (b[i] != 0) {
        return false;
      }
    }
    return b[10] == (byte) 0xff && b[11] == (byte) 0xff;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof SourceAddress other && Arrays.equals(prefix, other.prefix);
  }

  @Override
  public int hashCode() {
    return Arrays.hashCode(prefix);
  }

  /** {@code 192.0.2.7}, or {@code 2001:db8:0:1::/64}. */
  @Override
  public String toString() {
    if (prefix.length == 4) {
      return (prefix[0] & 0xff) + "." + (prefix[1] & 0xff) + "." + (prefix[2] & 0xff) + "." + (prefix[3] & 0xff);
    }
    var s = new StringBuilder();
    for (int i = 0; i < 8; i += 2) {
      s.append(Integer.toHexString(((prefix[i] & 0xff) << 8) | (prefix[i + 1] & 0xff))).append(':');
    }
    return s.append(":/64").toString();
  }
}
