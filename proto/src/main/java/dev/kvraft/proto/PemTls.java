package dev.kvraft.proto;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.CertificateException;
import java.security.cert.CertificateExpiredException;
import java.security.cert.CertificateFactory;
import java.security.cert.CertificateNotYetValidException;
import java.security.cert.X509Certificate;
import java.security.spec.InvalidKeySpecException;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;

/**
 * TLS material of the kvraft client protocol, read from PEM files: a certificate chain, its unencrypted PKCS#8 key
 * (RSA, EC or Ed25519), and a CA bundle to verify the other side with. Shared by the server's client port, the
 * follower's link to the leader, {@code KvClient}, {@code kvsh} and {@code kvraft-bench}, so that every side reads
 * the same files the same way. Immutable; {@link #read()} and {@link #context()} read the files each time they are
 * called, each file once.
 *
 * <p>Every failure is an {@link IOException} that names the file and what is wrong with it.
 */
public record PemTls(Optional<Path> certFile, Optional<Path> keyFile, Path caFile) {
  /** TLS 1.3, and 1.2 for older peers. */
  public static final String[] PROTOCOLS = {"TLSv1.3", "TLSv1.2"};
  private static final Pattern PEM_KEY = Pattern.compile(
      "-----BEGIN (RSA |EC |ENCRYPTED )?PRIVATE KEY-----([A-Za-z0-9+/=\\s]+)-----END \\1?PRIVATE KEY-----");

  public PemTls {
    if (caFile == null) {
      throw new IllegalArgumentException("a CA file (PEM bundle) is needed to verify the other side");
    }
    if (certFile.isPresent() != keyFile.isPresent()) {
      throw new IllegalArgumentException("a certificate and its key go together: got certificate "
          + certFile.map(Path::toString).orElse("(none)") + " and key " + keyFile.map(Path::toString).orElse("(none)"));
    }
  }

  /** Verifies the other side with {@code caFile}, and presents no certificate of its own. */
  public static PemTls trusting(Path caFile) {
    return new PemTls(Optional.empty(), Optional.empty(), caFile);
  }

  /** Presents {@code certFile} (its key in {@code keyFile}) and verifies the other side with {@code caFile}. */
  public static PemTls of(Path certFile, Path keyFile, Path caFile) {
    return new PemTls(Optional.of(certFile), Optional.of(keyFile), caFile);
  }

  /**
   * The three files as read at one moment, checked: a chain valid now whose first certificate {@code key} belongs to
   * (both empty when no certificate is presented), and the CA certificates. Everything that must use the same
   * certificate (a node's client port and its Raft port) is built from one Material, so that a file replaced while a
   * reload runs cannot give them different ones. Immutable.
   */
  public record Material(List<X509Certificate> chain, Optional<PrivateKey> key, List<X509Certificate> cas) {
    public Material {
      chain = List.copyOf(chain);
      cas = List.copyOf(cas);
    }

    /** A new SSLContext presenting this chain (if any) and trusting these CAs; reads no file. */
    public SSLContext context() throws IOException {
      try {
        var trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        int n = 0;
        for (var ca : cas) {
          trust.setCertificateEntry("ca-" + n++, ca);
        }
        var tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        KeyManagerFactory kmf = null;
        if (key.isPresent()) {
          var keys = KeyStore.getInstance("PKCS12");
          keys.load(null, null);
          keys.setKeyEntry("self", key.get(), new char[0], chain.toArray(new X509Certificate[0]));
          kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
          kmf.init(keys, new char[0]);
        }
        var context = SSLContext.getInstance("TLS");
        context.init(kmf == null ? null : kmf.getKeyManagers(), tmf.getTrustManagers(), null);
        return context;
      } catch (GeneralSecurityException e) {
        throw new IOException("cannot build TLS from certificate "
            + (chain.isEmpty() ? "(none)" : chain.get(0).getSubjectX500Principal().getName()) + ": " + e.getMessage(),
            e);
      }
    }
  }

  /**
   * Reads each file once, now, and checks them: unreadable, not PEM, expired, or a key that is not the certificate's
   * is an IOException naming the file.
   */
  public Material read() throws IOException {
    var cas = certificates(caFile);
    if (certFile.isEmpty()) {
      return new Material(List.of(), Optional.empty(), cas);
    }
    var chain = currentCertificates(certFile.get());
    var key = privateKey(keyFile.get());
    checkKeyMatches(chain.get(0), certFile.get(), key, keyFile.get());
    return new Material(chain, Optional.of(key), cas);
  }

  /** A new SSLContext from the files as they are now. */
  public SSLContext context() throws IOException {
    return read().context();
  }

  /** Client side: TLS 1.3/1.2 only, and the server's certificate must name the host (or IP) connected to. */
  public static void verifyHostName(SSLSocket socket) {
    SSLParameters params = socket.getSSLParameters();
    params.setEndpointIdentificationAlgorithm("HTTPS");
    params.setProtocols(PROTOCOLS);
    socket.setSSLParameters(params);
  }

  /** The certificates in a PEM file, in order; an error naming the file when there are none or one is bad. */
  public static List<X509Certificate> certificates(Path pem) throws IOException {
    readable(pem);
    try (var in = Files.newInputStream(pem)) {
      var list = new ArrayList<X509Certificate>();
      for (var c : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
        list.add((X509Certificate) c);
      }
      if (list.isEmpty()) {
        throw new IOException("TLS file " + pem + " holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)");
      }
      return list;
    } catch (CertificateException e) {
      throw new IOException("TLS file " + pem + " is not a PEM X.509 certificate: " + e.getMessage(), e);
    }
  }

  /**
   * As {@link #certificates}, and every one valid now: an expired or not-yet-valid certificate is an error naming
   * the file, not a handshake failure later.
   */
  public static List<X509Certificate> currentCertificates(Path pem) throws IOException {
    var chain = certificates(pem);
    for (var c : chain) {
      try {
        c.checkValidity();
      } catch (CertificateExpiredException | CertificateNotYetValidException e) {
        throw new IOException("TLS certificate in " + pem + " is not valid now (" + e.getMessage()
            + "); install a current certificate and reload", e);
      }
    }
    return chain;
  }

  /**
   * The client side of a TLS handshake on a connected socket: TLS 1.3/1.2, the server's certificate checked against
   * {@code context}'s CA and against {@code host} ({@link #verifyHostName}), within {@code timeoutMs}. The socket's
   * read timeout is as it was afterwards. Closing the returned socket closes {@code tcp}.
   */
  public static SSLSocket handshake(SSLContext context, java.net.Socket tcp, String host, int port, int timeoutMs)
      throws IOException {
    int before = tcp.getSoTimeout();
    var ssl = (SSLSocket) context.getSocketFactory().createSocket(tcp, host, port, true);
    ssl.setUseClientMode(true);
    verifyHostName(ssl);
    ssl.setSoTimeout(timeoutMs);
    ssl.startHandshake();
    ssl.setSoTimeout(before);
    return ssl;
  }

  /**
   * The TLS files a command line names: {@code --cacert} alone verifies the servers; with {@code --cert} and
   * {@code --key}, the client also presents its own certificate. Empty without {@code --cacert}. A lone
   * {@code --cert} or {@code --key}, or either without {@code --cacert}, is an IllegalArgumentException saying so.
   */
  public static Optional<PemTls> fromFlags(String cacert, String cert, String key) {
    if (cacert == null) {
      if (cert != null || key != null) {
        throw new IllegalArgumentException("--cert and --key need --cacert (the CA the servers' certificates chain"
            + " to)");
      }
      return Optional.empty();
    }
    if ((cert == null) != (key == null)) {
      throw new IllegalArgumentException("--cert and --key go together; got " + (cert == null ? "only --key"
          : "only --cert"));
    }
    var ca = Path.of(cacert);
    return Optional.of(cert == null ? trusting(ca) : of(Path.of(cert), Path.of(key), ca));
  }

  /**
   * Checks that {@code key} is the private key of {@code cert} (the first certificate of {@code certFile}): a
   * signature made with the key verifies with the certificate's public key. The JDK and Netty load a pair that does
   * not match without a word, and then every handshake fails; this happens when a rotation has replaced one of the
   * two files but not yet the other. The error names both files.
   */
  public static void checkKeyMatches(X509Certificate cert, Path certFile, PrivateKey key, Path keyFile)
      throws IOException {
    var algorithm = switch (key.getAlgorithm()) {
      case "EC" -> "SHA256withECDSA";
      case "RSA" -> "SHA256withRSA";
      // The JDK names every EdDSA key "EdDSA", Ed448 ones too (which privateKey reads): "EdDSA" signs with the
      // key's own curve, where "Ed25519" refused an Ed448 key and its matching certificate was reported as not its.
      case "EdDSA", "Ed25519", "Ed448" -> "EdDSA";
      default -> throw new IOException("TLS key file " + keyFile + " holds a " + key.getAlgorithm()
          + " key; an RSA, EC, Ed25519 or Ed448 key is needed");
    };
    boolean matches;
    try {
      var probe = "kvraft key check".getBytes(StandardCharsets.US_ASCII);
      var sign = java.security.Signature.getInstance(algorithm);
      sign.initSign(key);
      sign.update(probe);
      var signature = sign.sign();
      var verify = java.security.Signature.getInstance(algorithm);
      verify.initVerify(cert.getPublicKey());
      verify.update(probe);
      matches = verify.verify(signature);
    } catch (java.security.InvalidKeyException | java.security.SignatureException e) {
      matches = false; // a key of another algorithm than the certificate's
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IOException("this JDK cannot check a " + key.getAlgorithm() + " key (" + algorithm + "): "
          + e.getMessage(), e);
    }
    if (!matches) {
      throw new IOException("TLS key file " + keyFile + " is not the private key of the certificate in " + certFile
          + " (" + cert.getSubjectX500Principal().getName() + "); install the key that belongs to that certificate"
          + " (a rotation must replace both files) and reload");
    }
  }

  /** The unencrypted PKCS#8 private key in a PEM file. */
  public static PrivateKey privateKey(Path pem) throws IOException {
    readable(pem);
    var text = Files.readString(pem, StandardCharsets.US_ASCII);
    var m = PEM_KEY.matcher(text);
    if (!m.find()) {
      throw new IOException("TLS key file " + pem + " holds no PEM private key (expected -----BEGIN PRIVATE KEY-----)");
    }
    if (m.group(1) != null) {
      throw new IOException("TLS key file " + pem + " is a " + m.group(1).strip() + " key; an unencrypted PKCS#8 key"
          + " is needed: convert it with 'openssl pkcs8 -topk8 -nocrypt -in " + pem + "'");
    }
    byte[] der;
    try {
      der = Base64.getMimeDecoder().decode(m.group(2));
    } catch (IllegalArgumentException e) {
      throw new IOException("TLS key file " + pem + " is not valid base64 PEM: " + e.getMessage(), e);
    }
    for (var algorithm : new String[] {"EC", "RSA", "Ed25519", "EdDSA"}) {
      try {
        return KeyFactory.getInstance(algorithm).generatePrivate(new PKCS8EncodedKeySpec(der));
      } catch (InvalidKeySpecException | java.security.NoSuchAlgorithmException e) {
        // try the next algorithm
      }
    }
    throw new IOException("TLS key file " + pem + " is not an RSA, EC or Ed25519 PKCS#8 private key");
  }

  private static void readable(Path f) throws IOException {
    if (!Files.isReadable(f)) {
      throw new IOException("TLS file " + f + " is missing or unreadable; check the path and its permissions");
    }
  }
}
