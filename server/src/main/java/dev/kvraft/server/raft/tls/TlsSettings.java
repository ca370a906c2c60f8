package dev.kvraft.server.raft.tls;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Objects;
import javax.net.ssl.SSLException;
import org.apache.ratis.thirdparty.io.netty.handler.ssl.ClientAuth;
import org.apache.ratis.thirdparty.io.netty.handler.ssl.SslContext;
import org.apache.ratis.thirdparty.io.netty.handler.ssl.SslContextBuilder;

/**
 * The PEM files of the Raft transport's mutual TLS: {@code tls.cert.file}, {@code tls.key.file}
 * (unencrypted PKCS#8) and {@code tls.ca.file} (the CA bundle every peer must chain to).
 * Immutable; {@link #load()} reads the files each time it is called, each once.
 */
public record TlsSettings(Path certFile, Path keyFile, Path caFile) {
  private static final String[] PROTOCOLS = dev.kvraft.proto.PemTls.PROTOCOLS;

  public TlsSettings {
    Objects.requireNonNull(certFile, "tls.cert.file must be set");
    Objects.requireNonNull(keyFile, "tls.key.file must be set");
    Objects.requireNonNull(caFile, "tls.ca.file must be set");
  }

  public static TlsSettings of(Path certFile, Path keyFile, Path caFile) {
    return new TlsSettings(certFile, keyFile, caFile);
  }

  /** Server and client SSL contexts built from the files as they are now. */
  public record Contexts(SslContext server, SslContext client) {}

  /**
   * Reads the three files (each once); a missing, unreadable or expired one, or a key that is not the certificate's, is
   * an IOException naming it.
   */
  public Contexts load() throws IOException {
    return contexts(dev.kvraft.proto.PemTls.of(certFile, keyFile, caFile).read());
  }

  /** Server and client SSL contexts built from {@code m}, read by the caller; reads no file. */
  public Contexts contexts(dev.kvraft.proto.PemTls.Material m) throws IOException {
    if (m.key().isEmpty()) {
      throw new IOException("the Raft transport needs this node's certificate and key (" + certFile + ", " + keyFile
          + ")");
    }
    var chain = m.chain().toArray(new java.security.cert.X509Certificate[0]);
    var cas = m.cas().toArray(new java.security.cert.X509Certificate[0]);
    try {
      var server = SslContextBuilder.forServer(m.key().get(), chain)
          .trustManager(cas).clientAuth(ClientAuth.REQUIRE).protocols(PROTOCOLS).build();
      var client = SslContextBuilder.forClient()
          .keyManager(m.key().get(), chain)
          .trustManager(cas).protocols(PROTOCOLS).build();
      return new Contexts(server, client);
    } catch (SSLException | IllegalArgumentException e) {
      throw new IOException("cannot load TLS material from cert " + certFile + ", key " + keyFile
          + ", CA " + caFile + " (PEM, unencrypted PKCS#8 key expected): " + e.getMessage(), e);
    }
  }
}
