package dev.kvraft.client;

/**
 * Node addresses in one spelling, so that a node named two ways counts once: in a client's list of addresses, its
 * pool of connections, and the leader it remembers ({@link Routes}, {@link MemberDiscovery}). Stateless.
 */
final class Addresses {
  private Addresses() {}

  /**
   * One spelling per address, so that a node named two ways counts once (in the list, the pool, the leader): the
   * host in lower case (names are case-insensitive), an IPv6 literal in its shortest form ({@code [::1]} for
   * {@code [0:0:0:0:0:0:0:1]}, found without DNS), the port as a plain number. A name and an IP ({@code localhost}
   * and {@code 127.0.0.1}) stay two: telling them apart needs DNS, which may answer several addresses or change,
   * while TLS checks the certificate against the name written. Throws IllegalArgumentException for what is not
   * {@code host:port}.
   */
  static String canonical(String address) {
    var hp = dev.kvraft.proto.HostPort.parse(address);
    var host = hp.host().toLowerCase(java.util.Locale.ROOT);
    if (host.contains(":") && !host.contains("%")) {
      try {
        // An IPv6 literal: in brackets, getByName only checks its format and never asks DNS. IPv4 literals are left
        // as written: with leading zeros they are ambiguous (octal to some resolvers), without they are canonical.
        host = shortest(java.net.InetAddress.getByName("[" + host + "]").getHostAddress());
      } catch (java.net.UnknownHostException e) {
        throw new IllegalArgumentException("address '" + address + "': " + host + " is not an IP address", e);
      }
    }
    return new dev.kvraft.proto.HostPort(host, hp.port()).toString();
  }

  /** An IPv6 address as getHostAddress writes it (8 groups), with its longest run of 2+ zero groups as "::". */
  private static String shortest(String ip) {
    var groups = ip.split(":", -1);
    if (groups.length != 8) {
      return ip; // IPv4
    }
    int bestStart = -1;
    int bestLength = 1;
    for (int i = 0; i < 8; ) {
      int j = i;
      while (j < 8 && groups[j].equals("0")) {
        j++;
      }
      if (j - i > bestLength) {
        bestStart = i;
        bestLength = j - i;
      }
      i = Math.max(j, i + 1);
    }
    if (bestStart < 0) {
      return ip;
    }
    return String.join(":", java.util.Arrays.copyOfRange(groups, 0, bestStart)) + "::"
        + String.join(":", java.util.Arrays.copyOfRange(groups, bestStart + bestLength, 8));
  }

  /** {@link #canonical}, or the text as it came when it is no {@code host:port} (a node's hint is used as given). */
  static String canonicalOrAsIs(String address) {
    try {
      return canonical(address);
    } catch (IllegalArgumentException e) {
      return address;
    }
  }
}
