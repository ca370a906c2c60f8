package dev.kvraft.server.metrics;

import java.util.Optional;

/**
 * The parsed {@code metrics.address} setting: {@code host:port} to serve /metrics, /health and
 * /ready on, or off when the setting is present but empty. Absent means 127.0.0.1 on the client
 * port + 2.
 */
public record MetricsAddress(String host, int port) {
  public MetricsAddress {
    if (host == null || host.isBlank()) {
      throw new IllegalArgumentException("metrics.address host must not be empty");
    }
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException("metrics.address port must be 0..65535, got " + port);
    }
  }

  /**
   * @param value the setting, or null when absent
   * @param clientPort the client listener port, for the default
   * @return empty when metrics are turned off (value is "" or blank)
   */
  public static Optional<MetricsAddress> parse(String value, int clientPort) {
    if (value == null) {
      if (clientPort + 2 > 65535) {
        throw new IllegalArgumentException("metrics.address default (client port + 2) is out of range for client port "
            + clientPort + "; set metrics.address explicitly");
      }
      // A client port of 0 (chosen by the OS) gets an OS-chosen metrics port too.
      return Optional.of(new MetricsAddress("127.0.0.1", clientPort == 0 ? 0 : clientPort + 2));
    }
    var v = value.strip();
    if (v.isEmpty()) {
      return Optional.empty();
    }
    dev.kvraft.proto.HostPort hp;
    try {
      hp = dev.kvraft.proto.HostPort.parseListen(v);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("metrics.address must be host:port or empty: " + e.getMessage(), e);
    }
    var host = hp.host();
    int port = hp.port();
    return Optional.of(new MetricsAddress(host, port));
  }

  /** As written in the setting: {@code host:port}, an IPv6 host in brackets. */
  @Override
  public String toString() {
    return (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
  }
}
