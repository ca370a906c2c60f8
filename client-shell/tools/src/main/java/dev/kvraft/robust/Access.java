package dev.kvraft.robust;

import dev.kvraft.client.KvClient;
import dev.kvraft.proto.PemTls;
import java.util.Optional;

/**
 * How the suite's clients reach a cluster: TLS files when the cluster runs TLS, a user and password when auth is
 * on. Immutable.
 */
public record Access(Optional<PemTls> tls, Optional<String> user, String password) {
  public static final Access PLAIN = new Access(Optional.empty(), Optional.empty(), "");

  /** A client builder for {@code addresses} with this access. */
  public KvClient.Builder client(String... addresses) {
    var b = KvClient.builder().addresses(addresses);
    tls.ifPresent(b::tls);
    user.ifPresent(u -> b.credentials(u, password));
    return b;
  }

  Access withUser(String name, String pw) {
    return new Access(tls, Optional.of(name), pw);
  }
}
