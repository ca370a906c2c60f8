package dev.kvraft.proto;

/**
 * A {@code host:port} address, as the protocol writes them ({@code Member.client_address}) and as every setting and
 * flag takes them: a name or IP literal, an IPv6 literal in brackets ({@code [::1]:7379}). The one parser for them,
 * used by the client, the server's cluster setting, its leader link and its metrics address. Immutable.
 */
public record HostPort(String host, int port) {
  public HostPort {
    if (host == null || host.isBlank()) {
      throw new IllegalArgumentException("address has no host");
    }
    if (host.chars().anyMatch(c -> c == '[' || c == ']' || c == ',' || c == '/' || Character.isWhitespace(c))) {
      throw new IllegalArgumentException("host '" + host + "' is not a name or an IP address (no spaces, commas,"
          + " slashes or brackets; write an IPv6 address in one pair of brackets: [::1]:7379)");
    }
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException("port " + port + " is not in 1..65535");
    }
  }

  /** Parses {@code host:port} with a port in 1..65535, an address to connect to; the message names the bad text. */
  public static HostPort parse(String text) {
    var hp = parseListen(text);
    if (hp.port() == 0) {
      throw new IllegalArgumentException("address '" + text + "' has port 0; give the port to connect to");
    }
    return hp;
  }

  /** Parses {@code host:port} where port 0 (chosen by the system) is allowed: an address to listen on. */
  public static HostPort parseListen(String text) {
    if (text == null) {
      throw new IllegalArgumentException("address is missing; write host:port, e.g. 127.0.0.1:7379");
    }
    var s = text.strip();
    int colon = s.lastIndexOf(':');
    if (colon <= 0 || colon == s.length() - 1) {
      throw new IllegalArgumentException("address '" + text + "' must look like host:port, e.g. 127.0.0.1:7379");
    }
    var host = s.substring(0, colon);
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    } else if (host.contains(":")) {
      throw new IllegalArgumentException("address '" + text + "': write an IPv6 host in brackets, e.g. [::1]:7379");
    }
    int port;
    try {
      port = Integer.parseInt(s.substring(colon + 1));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("address '" + text + "' has a port that is not a number");
    }
    try {
      return new HostPort(host, port);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("address '" + text + "': " + e.getMessage(), e);
    }
  }

  @Override
  public String toString() {
    return (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
  }
}
