package dev.kvraft.server.config;

import dev.kvraft.proto.HostPort;
import java.util.Objects;

/**
 * One member of the cluster as written in the {@code cluster} setting: {@code id=host:clientPort:peerPort}.
 * Immutable; built by {@link #parse(String)} or {@link #of}.
 */
public record PeerSpec(String id, String host, int clientPort, int peerPort) {

  public PeerSpec {
    Objects.requireNonNull(id, "id");
    Objects.requireNonNull(host, "host");
    if (!id.matches("[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")) {
      throw new IllegalArgumentException("node id '" + id
          + "' is not valid: use 1 to 63 letters, digits, '_', '.' or '-', starting with a letter or digit");
    }
    if (host.isBlank()) {
      throw new IllegalArgumentException("node '" + id + "' has an empty host");
    }
    try {
      new HostPort(host, 0); // the one rule for hosts: a name or an IP, no spaces, commas, slashes or brackets
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("node '" + id + "' has host '" + host + "': " + e.getMessage(), e);
    }
    checkPort(id, "client", clientPort);
    checkPort(id, "peer", peerPort);
    if (clientPort == peerPort) {
      throw new IllegalArgumentException(
          "node '" + id + "' uses port " + clientPort + " for both clients and peers: they must differ");
    }
  }

  public static PeerSpec of(String id, String host, int clientPort, int peerPort) {
    return new PeerSpec(id, host, clientPort, peerPort);
  }

  /** Parses {@code id=host:clientPort:peerPort}. */
  public static PeerSpec parse(String text) {
    var s = text.strip();
    int eq = s.indexOf('=');
    if (eq <= 0) {
      throw new IllegalArgumentException("cluster member '" + text + "' must look like id=host:clientPort:peerPort");
    }
    var id = s.substring(0, eq);
    var rest = s.substring(eq + 1);
    int second = rest.lastIndexOf(':');
    if (second <= 0) {
      throw new IllegalArgumentException("cluster member '" + text + "' must look like id=host:clientPort:peerPort");
    }
    HostPort client;
    try {
      client = HostPort.parseListen(rest.substring(0, second));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("cluster member '" + text + "' must look like id=host:clientPort:peerPort ("
          + e.getMessage() + ")", e);
    }
    return new PeerSpec(id, client.host(), client.port(), port(text, rest.substring(second + 1)));
  }

  private static int port(String member, String text) {
    try {
      return Integer.parseInt(text);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("cluster member '" + member + "': port '" + text + "' is not a number");
    }
  }

  private static void checkPort(String id, String what, int port) {
    if (port < 1 || port > 65535) {
      throw new IllegalArgumentException("node '" + id + "' " + what + " port " + port + " is not in 1..65535");
    }
  }

  public String clientAddress() {
    return hostPort(host, clientPort);
  }

  public String peerAddress() {
    return hostPort(host, peerPort);
  }

  private static String hostPort(String host, int port) {
    return new HostPort(host, port).toString();
  }

  @Override
  public String toString() {
    return id + "=" + (host.contains(":") ? "[" + host + "]" : host) + ":" + clientPort + ":" + peerPort;
  }
}
