package dev.kvraft.robust;

import dev.kvraft.proto.PemTls;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A throwaway CA and certificates for a TLS cluster under fault injection, made with the openssl CLI as
 * {@code bin/kvraft-certs} makes them: one per node (SAN DNS = its id, and its host as IP or DNS), one for the
 * clients. Stateless.
 */
final class Certificates {
  /** The name of the clients' certificate. */
  static final String CLIENT = "robust-client";

  private Certificates() {}

  /** Makes {@code dir/ca.pem} and {@code dir/<id>.pem/.key} for every node of {@code hosts} (id to host). */
  static PemTls make(Path dir, Map<String, String> hosts) throws IOException, InterruptedException {
    Files.createDirectories(dir);
    run(dir, "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=kvraft robustness CA");
    for (var e : hosts.entrySet()) {
      var host = e.getValue();
      leaf(dir, e.getKey(), (host.matches("[0-9.]+") ? "IP:" : "DNS:") + host);
    }
    leaf(dir, CLIENT, "DNS:localhost");
    return PemTls.of(dir.resolve(CLIENT + ".pem"), dir.resolve(CLIENT + ".key"), dir.resolve("ca.pem"));
  }

  /** The settings that turn TLS on for node {@code id}, whose files {@link #make} wrote into {@code dir}. */
  static List<String> serverArgs(Path dir, String id) {
    return List.of("--tls.cert.file=" + dir.resolve(id + ".pem"), "--tls.key.file=" + dir.resolve(id + ".key"),
        "--tls.ca.file=" + dir.resolve("ca.pem"));
  }

  private static void leaf(Path dir, String name, String san) throws IOException, InterruptedException {
    Files.writeString(dir.resolve(name + ".ext"), "subjectAltName=DNS:" + name + "," + san + "\n");
    run(dir, "openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name);
    run(dir, "openssl", "x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", name + ".pem", "-days", "2", "-extfile", name + ".ext");
  }

  private static void run(Path dir, String... cmd) throws IOException, InterruptedException {
    var log = dir.resolve("openssl.log");
    Process p;
    try {
      p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true)
          .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
    } catch (IOException e) {
      throw new IOException("openssl is needed for a TLS cluster (apt-get install -y openssl): " + e.getMessage(), e);
    }
    if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
      p.destroyForcibly();
      throw new IOException("openssl failed: " + String.join(" ", cmd) + "; see " + log);
    }
  }
}
