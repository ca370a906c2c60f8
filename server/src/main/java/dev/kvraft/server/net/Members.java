package dev.kvraft.server.net;

import java.util.Set;

/**
 * Who may send a node the requests only members send: {@code forwarded} requests and {@code ReadIndex}. A connection
 * is a member's when the names of its TLS client certificate (SAN DNS or CN, already verified against tls.ca.file)
 * include a member's node id.
 */
public interface Members {
  /** Whether a connection whose client certificate carries {@code certificateNames} is a cluster member's. */
  boolean isMember(Set<String> certificateNames);

  /** For the PERMISSION_DENIED message: what a member must present. */
  String describe();

  /** Members are the connections whose certificate names one of {@code ids}. */
  static Members byCertificate(Set<String> ids) {
    var copy = Set.copyOf(ids);
    return new Members() {
      @Override
      public boolean isMember(Set<String> names) {
        return names.stream().anyMatch(copy::contains);
      }

      @Override
      public String describe() {
        return "a TLS client certificate naming one of " + copy.stream().sorted().toList();
      }
    };
  }
}
