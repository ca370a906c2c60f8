package dev.kvraft.server.testing;

import dev.kvraft.server.raft.tls.TlsSettings;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Throwaway CAs and node certificates made at test time with the openssl CLI (keys are never committed). */
public final class TestCerts {
  private final Path dir;

  private TestCerts(Path dir) {
    this.dir = dir;
  }

  public static TestCerts in(Path dir) {
    return new TestCerts(dir);
  }

  /** Makes a self-signed CA named {@code ca}: files ca.pem and ca.key. */
  public Path ca(String ca) throws IOException, InterruptedException {
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", dir.resolve(ca + ".key").toString(), "-out", dir.resolve(ca + ".pem").toString(),
        "-days", "2", "-subj", "/CN=" + ca);
    return dir.resolve(ca + ".pem");
  }

  /**
   * The settings that turn TLS on with {@code files}, plus {@code extra} settings as key, value, key, value...
   * (e.g. "tls.client.auth", "none").
   */
  public static java.util.Map<String, String> settings(TlsSettings files, String... extra) {
    var map = new java.util.LinkedHashMap<String, String>();
    map.put("tls.cert.file", files.certFile().toString());
    map.put("tls.key.file", files.keyFile().toString());
    map.put("tls.ca.file", files.caFile().toString());
    for (int i = 0; i + 1 < extra.length; i += 2) {
      map.put(extra[i], extra[i + 1]);
    }
    return map;
  }

  /** Whether the openssl CLI is there (tests that need it are skipped otherwise). */
  public static boolean opensslPresent() {
    try {
      return new ProcessBuilder("openssl", "version").redirectErrorStream(true).start().waitFor() == 0;
    } catch (IOException e) {
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  /**
   * A certificate for {@code name} (CN, and SAN DNS with DNS:localhost and IP:127.0.0.1 so that clients on loopback
   * can check the host) signed by CA {@code ca}; file stem {@code stem}.
   */
  public TlsSettings node(String ca, String stem, String name) throws IOException, InterruptedException {
    return node(ca, stem, name, "DNS:" + name + ",DNS:localhost,IP:127.0.0.1");
  }

  /** A certificate for {@code name} (CN) with exactly the subjectAltName {@code san}, e.g. "DNS:n1". */
  public TlsSettings node(String ca, String stem, String name, String san) throws IOException, InterruptedException {
    var key = dir.resolve(stem + ".key");
    var csr = dir.resolve(stem + ".csr");
    var cert = dir.resolve(stem + ".pem");
    var ext = dir.resolve(stem + ".ext");
    Files.writeString(ext, "subjectAltName=" + san + "\n");
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", key.toString(), "-out", csr.toString(), "-subj", "/CN=" + name);
    run("openssl", "x509", "-req", "-in", csr.toString(), "-CA", dir.resolve(ca + ".pem").toString(),
        "-CAkey", dir.resolve(ca + ".key").toString(), "-CAcreateserial", "-out", cert.toString(),
        "-days", "2", "-extfile", ext.toString());
    return TlsSettings.of(cert, key, dir.resolve(ca + ".pem"));
  }

  private void run(String... cmd) throws IOException, InterruptedException {
    var p = new ProcessBuilder(new ArrayList<>(List.of(cmd))).redirectErrorStream(true)
        .redirectOutput(dir.resolve("openssl.log").toFile()).start();
    if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
      p.destroyForcibly();
      throw new IOException("openssl failed: " + String.join(" ", cmd) + "\n" + Files.readString(dir.resolve("openssl.log")));
    }
  }
}
