package dev.kvraft.systemd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvraft.testkit.FreePorts;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** systemd/install.sh and uninstall.sh into a temporary root, the unit checked by systemd-analyze. */
@Timeout(300)
@Tag("slow") // processes, clusters or external tools: not in bin/test --fast
class InstallTest {
  /** This module's directory is systemd/ of the source tree. */
  static final Path SYSTEMD = Path.of("").toAbsolutePath();

  @TempDir
  Path dir;

  record Run(int status, String out) {}

  static Run run(List<String> cmd, Path cwd) throws IOException, InterruptedException {
    var p = new ProcessBuilder(cmd).directory(cwd.toFile()).redirectErrorStream(true).start();
    var out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(240, TimeUnit.SECONDS), "did not finish: " + cmd);
    return new Run(p.exitValue(), out);
  }

  private Run install(Path root, String... extra) throws Exception {
    var cmd = new ArrayList<>(List.of("bash", SYSTEMD.resolve("install.sh").toString(), "--prefix", root.toString(),
        "--no-build"));
    cmd.addAll(List.of(extra));
    return run(cmd, dir);
  }

  @Test
  void dryRunPrintsTheStepsAndChangesNothing() throws Exception {
    var root = dir.resolve("root");
    var r = install(root, "--dry-run", "--nodes", "n1,n2");
    assertEquals(0, r.status(), r.out());
    assertTrue(r.out().contains("+ install -m 0644 " + SYSTEMD.resolve("kvraft@.service") + " " + root
        + "/etc/systemd/system/kvraft@.service"), r.out());
    assertTrue(r.out().contains("+ write " + root + "/etc/kvraft/n2.properties"), r.out());
    assertFalse(Files.exists(root), "a dry run creates nothing");
  }

  @Test
  void installsTheLayoutIdempotentlyAndUninstallKeepsConfigAndData() throws Exception {
    var root = dir.resolve("root");
    var r = install(root, "--nodes", "n1,n2,n3");
    assertEquals(0, r.status(), r.out());
    for (var f : List.of("opt/kvraft/lib/server/kvraft-server.jar", "opt/kvraft/lib/shell/kvraft-shell.jar",
        "opt/kvraft/lib/tools/kvraft-tools.jar",
        "opt/kvraft/bin/kvraft-server", "opt/kvraft/bin/kvsh", "opt/kvraft/bin/lib/common.sh",
        "opt/kvraft/systemd/README.md", "opt/kvraft/systemd/monitoring/grafana-dashboard.json",
        "etc/systemd/system/kvraft@.service", "etc/systemd/system/kvraft-backup.service",
        "etc/systemd/system/kvraft-backup.timer", "opt/kvraft/bin/kvraft-backup", "etc/kvraft/n1.properties",
        "etc/kvraft/n3.properties")) {
      assertTrue(Files.exists(root.resolve(f)), f + " missing; install said:\n" + r.out());
    }
    assertTrue(Files.isExecutable(root.resolve("opt/kvraft/bin/kvraft-server")));
    assertEquals(Path.of("/opt/kvraft/bin/kvsh"), Files.readSymbolicLink(root.resolve("usr/local/bin/kvsh")));
    var n2 = Files.readString(root.resolve("etc/kvraft/n2.properties"));
    assertTrue(n2.contains("node.id = n2"), n2);
    assertTrue(n2.contains("cluster = n1=127.0.0.1:7379:7380,n2=127.0.0.1:7479:7480,n3=127.0.0.1:7579:7580"), n2);
    assertTrue(n2.contains("jvm.options ="), "JVM options live in the config");

    // Again: an upgrade. The config an operator edited stays.
    Files.writeString(root.resolve("etc/kvraft/n1.properties"), "\n# edited by hand\n",
        java.nio.file.StandardOpenOption.APPEND);
    var again = install(root, "--nodes", "n1");
    assertEquals(0, again.status(), again.out());
    assertTrue(Files.readString(root.resolve("etc/kvraft/n1.properties")).contains("# edited by hand"));
    assertTrue(again.out().contains("keeping " + root + "/etc/kvraft/n1.properties"), again.out());

    Files.createDirectories(root.resolve("var/lib/kvraft/n1"));
    var un = run(List.of("bash", SYSTEMD.resolve("uninstall.sh").toString(), "--prefix", root.toString()), dir);
    assertEquals(0, un.status(), un.out());
    assertFalse(Files.exists(root.resolve("opt/kvraft")));
    assertFalse(Files.exists(root.resolve("etc/systemd/system/kvraft@.service")));
    assertFalse(Files.exists(root.resolve("etc/systemd/system/kvraft-backup.timer")));
    assertFalse(Files.exists(root.resolve("usr/local/bin/kvsh"), java.nio.file.LinkOption.NOFOLLOW_LINKS));
    assertTrue(Files.exists(root.resolve("etc/kvraft/n1.properties")), "configs stay without --purge");
    assertTrue(Files.exists(root.resolve("var/lib/kvraft/n1")), "data stays without --purge");
    var purge = run(List.of("bash", SYSTEMD.resolve("uninstall.sh").toString(), "--prefix", root.toString(),
        "--purge"), dir);
    assertEquals(0, purge.status(), purge.out());
    assertFalse(Files.exists(root.resolve("etc/kvraft")));
    assertFalse(Files.exists(root.resolve("var/lib/kvraft")));
  }

  @Test
  void systemdAnalyzeVerifiesTheInstalledUnit() throws Exception {
    var root = dir.resolve("root");
    assertEquals(0, install(root, "--nodes", "n1").status());
    // systemd-analyze resolves the unit's dependencies (sysinit.target, ...) inside the root: give it systemd's own.
    var units = root.resolve("usr/lib/systemd");
    Files.createDirectories(units);
    var copy = run(List.of("cp", "-a", "/usr/lib/systemd/system", units.toString()), dir);
    assertEquals(0, copy.status(), "systemd's units are needed (apt-get install -y systemd): " + copy.out());
    // ... and the one outside program the unit runs, ExecReload's /bin/kill (procps), which it checks exists there.
    Files.createDirectories(root.resolve("bin"));
    Files.copy(Path.of("/bin/kill"), root.resolve("bin/kill"));
    var verify = run(List.of("systemd-analyze", "verify", "--root=" + root, "kvraft@n1.service",
        "kvraft-backup.service", "kvraft-backup.timer"), dir);
    var aboutUs = verify.out().lines().filter(l -> l.contains("kvraft")).toList();
    assertEquals(0, verify.status(), verify.out());
    assertEquals(List.of(), aboutUs, "systemd-analyze complained about the unit");
    var unit = Files.readString(root.resolve("etc/systemd/system/kvraft@.service"));
    for (var line : List.of("Type=notify", "User=kvraft", "StateDirectory=kvraft/%i", "ConfigurationDirectory=kvraft",
        "Restart=on-failure", "TimeoutStopSec=", "LimitNOFILE=65536", "NoNewPrivileges=yes", "ProtectSystem=strict",
        "ProtectHome=yes", "PrivateTmp=yes", "PrivateDevices=yes", "ProtectKernelTunables=yes",
        "ProtectControlGroups=yes", "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "ReadWritePaths=/var/lib/kvraft/%i")) {
      assertTrue(unit.contains(line), "the unit lacks " + line);
    }
  }

  @Test
  void tlsDirInstallsTheFilesWithSafeModesAndTurnsTlsOnInNewConfigs() throws Exception {
    var certs = dir.resolve("certs");
    var made = run(List.of("bash", SYSTEMD.resolve("../bin/kvraft-certs").normalize().toString(), certs.toString(),
        "n1", "n2", "kvsh"), dir);
    assertEquals(0, made.status(), made.out());
    var root = dir.resolve("root");
    var missing = install(root, "--nodes", "n1,n2,n3", "--tls-dir", certs.toString());
    assertEquals(2, missing.status(), "n3 has no certificate: " + missing.out());
    assertTrue(missing.out().contains("no readable n3.pem"), missing.out());
    assertFalse(Files.exists(root), "a failed check installs nothing");

    var r = install(root, "--nodes", "n1,n2", "--tls-dir", certs.toString());
    assertEquals(0, r.status(), r.out());
    var tls = root.resolve("etc/kvraft/tls");
    for (var f : List.of("ca.pem", "n1.pem", "n2.pem", "kvsh.pem")) {
      assertEquals("rw-r--r--", perms(tls.resolve(f)), f);
    }
    for (var f : List.of("n1.key", "n2.key", "kvsh.key")) {
      assertEquals("rw-------", perms(tls.resolve(f)), f + ": a private key is readable by its owner only");
    }
    var n2 = Files.readString(root.resolve("etc/kvraft/n2.properties"));
    assertTrue(n2.contains("tls.cert.file = /etc/kvraft/tls/n2.pem"), n2);
    assertTrue(n2.contains("tls.key.file = /etc/kvraft/tls/n2.key"), n2);
    assertTrue(n2.contains("tls.ca.file = /etc/kvraft/tls/ca.pem"), n2);
    assertTrue(Files.readString(root.resolve("etc/systemd/system/kvraft@.service"))
        .contains("ExecReload=/bin/kill -HUP $MAINPID"), "systemctl reload rotates certificates");
    assertEquals("rw-r-----", perms(root.resolve("etc/kvraft/n2.properties")), "a config is not for everyone");

    // n1's certificate is rotated in place; running install.sh again (an upgrade) with the old directory keeps it.
    var rotated = "-----BEGIN CERTIFICATE-----\nrotated\n-----END CERTIFICATE-----\n";
    Files.writeString(tls.resolve("n1.pem"), rotated);
    var again = install(root, "--nodes", "n1,n2", "--tls-dir", certs.toString());
    assertEquals(0, again.status(), again.out());
    assertEquals(rotated, Files.readString(tls.resolve("n1.pem")), "the rotated certificate was put back");
    assertTrue(again.out().contains("kept " + tls.resolve("n1.pem")), again.out());
    assertEquals(Files.readString(certs.resolve("n2.pem")), Files.readString(tls.resolve("n2.pem")));
  }

  private static String perms(Path p) throws IOException {
    return java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(p)).substring(0, 9);
  }

  @Test
  void theInstalledServerStartsFromTheInstalledLayoutWithTheExampleConfig() throws Exception {
    var root = dir.resolve("root");
    assertEquals(0, install(root, "--nodes", "n1").status());
    var ports = FreePorts.take(2);
    var address = "127.0.0.1:" + ports.get(0);
    var server = new ProcessBuilder("bash", root.resolve("opt/kvraft/bin/kvraft-server").toString(),
        "--config=" + root.resolve("etc/kvraft/n1.properties"), "--data.dir=" + dir.resolve("data"),
        "--cluster=n1=127.0.0.1:" + ports.get(0) + ":" + ports.get(1))
        .redirectErrorStream(true).redirectOutput(dir.resolve("server.log").toFile()).start();
    try {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
      while (true) {
        try (var s = new Socket()) {
          s.connect(new InetSocketAddress("127.0.0.1", ports.get(0)), 500);
          break;
        } catch (IOException e) {
          assertTrue(server.isAlive() && System.nanoTime() < deadline,
              "the installed server did not come up:\n" + Files.readString(dir.resolve("server.log")));
          Thread.sleep(100);
        }
      }
      var kvsh = run(List.of("bash", root.resolve("opt/kvraft/bin/kvsh").toString(), "--address", address,
          "-c", "put installed yes", "-c", "get installed"), dir);
      assertEquals(0, kvsh.status(), kvsh.out());
      assertTrue(kvsh.out().endsWith("yes\n"), kvsh.out());
      assertTrue(Files.readString(dir.resolve("server.log")).contains("node n1 serving clients"));
    } finally {
      server.destroy();
      if (!server.waitFor(15, TimeUnit.SECONDS)) {
        server.destroyForcibly().waitFor();
      }
    }
    assertEquals(0, server.exitValue(), Files.readString(dir.resolve("server.log")));
  }
}
