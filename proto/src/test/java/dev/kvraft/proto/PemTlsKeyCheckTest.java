package dev.kvraft.proto;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link PemTls#checkKeyMatches}: a key and its own certificate pass, whatever the key type; another key does not. */
class PemTlsKeyCheckTest {
  @TempDir Path dir;

  /** A self-signed certificate {@code name.pem} and its key {@code name.key}, made by openssl. */
  private boolean pair(String name, String... keyArgs) throws Exception {
    var cmd = new ArrayList<>(List.of("openssl", "req", "-x509", "-newkey"));
    cmd.addAll(List.of(keyArgs));
    cmd.addAll(List.of("-nodes", "-keyout", dir.resolve(name + ".key").toString(), "-out",
        dir.resolve(name + ".pem").toString(), "-days", "2", "-subj", "/CN=" + name));
    Process p;
    try {
      p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
    } catch (IOException e) {
      return false; // no openssl here
    }
    return p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0;
  }

  private void check(String cert, String key) throws IOException {
    var certFile = dir.resolve(cert + ".pem");
    var keyFile = dir.resolve(key + ".key");
    PemTls.checkKeyMatches(PemTls.currentCertificates(certFile).get(0), certFile, PemTls.privateKey(keyFile),
        keyFile);
  }

  @Test
  void everyKeyTypeMatchesItsOwnCertificateAndNoOther() throws Exception {
    // Found by review: an Ed448 key (which PemTls.privateKey reads, and the JDK names "EdDSA") was checked with the
    // Ed25519 signature, so a matching Ed448 pair was refused at start as "not the private key of the certificate".
    assumeTrue(pair("ed448", "ed448"), "openssl could not make an Ed448 pair");
    assumeTrue(pair("ed25519", "ed25519"), "openssl could not make an Ed25519 pair");
    assumeTrue(pair("ec", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"), "openssl could not make an EC pair");
    check("ed448", "ed448");
    check("ed25519", "ed25519");
    check("ec", "ec");
    for (var wrong : List.of(List.of("ed448", "ed25519"), List.of("ed25519", "ed448"), List.of("ec", "ed448"))) {
      var e = assertThrows(IOException.class, () -> check(wrong.get(0), wrong.get(1)), wrong.toString());
      assertTrue(e.getMessage().contains("not the private key of the certificate"), e.getMessage());
    }
  }
}
