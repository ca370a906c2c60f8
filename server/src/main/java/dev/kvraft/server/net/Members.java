package dev.kvraft.server.net;

import dev.kvraft.proto.MemberHello;
import dev.kvraft.server.db.MemberToken;
import java.util.Optional;
import java.util.Set;

/**
 * Who may send a node the requests only members send: {@code forwarded} requests and {@code ReadIndex} (issue #16).
 * With TLS on, a connection is a member's when the names of its client certificate (SAN DNS or CN, already verified
 * against tls.ca.file) include a member's node id. With TLS off, when it opened with a {@code MemberHello} carrying
 * the cluster's {@link MemberToken}, which only members know. Immutable; the token itself is read as it is now.
 */
public final class Members {
  private final java.util.function.Supplier<Set<String>> ids;
  private final MemberToken token;

  private Members(java.util.function.Supplier<Set<String>> ids, MemberToken token) {
    this.ids = ids;
    this.token = token;
  }

  /** TLS on: members are the connections whose certificate names one of the ids {@code ids} gives now. */
  public static Members byCertificate(java.util.function.Supplier<Set<String>> ids) {
    return new Members(ids, null);
  }

  /** TLS off: members are the connections that presented {@code token}. */
  public static Members byToken(MemberToken token) {
    return new Members(Set::of, token);
  }

  /** Whether a connection whose client certificate carries {@code certificateNames} is a member's. */
  boolean isMember(Set<String> certificateNames) {
    var now = ids.get();
    return certificateNames.stream().anyMatch(now::contains);
  }

  /**
   * Empty when one of {@code certificateNames} (a verified client certificate's) is a member now; else why not, naming
   * both the certificate's names and the members, read once so that the two agree.
   */
  Optional<String> certificate(Set<String> certificateNames) {
    var now = ids.get();
    if (certificateNames.stream().anyMatch(now::contains)) {
      return Optional.empty();
    }
    return Optional.of("this connection's certificate names " + certificateNames.stream().sorted().toList()
        + ", and the members are " + now.stream().sorted().toList());
  }

  /** Whether this node can tell members at all yet (with TLS off: once it has applied the token). */
  boolean ready() {
    return token == null || token.get().isPresent();
  }

  /** Empty when {@code hello} proves membership, else why not. */
  Optional<String> hello(MemberHello hello) {
    if (token == null) {
      return Optional.of("this node runs TLS: members present their certificate, not a token");
    }
    if (token.get().isEmpty()) {
      return Optional.of("this node has not applied the cluster's member token yet; retry");
    }
    return token.matches(hello.getToken()) ? Optional.empty()
        : Optional.of("the member token presented for '" + hello.getNodeId() + "' is wrong");
  }

  /** For the PERMISSION_DENIED message: what a member must present. */
  String describe() {
    return token == null ? "a TLS client certificate naming one of " + ids.get().stream().sorted().toList()
        : "a MemberHello with the cluster's member token first on the connection";
  }
}
