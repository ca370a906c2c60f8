package dev.kvraft.shell;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvraft.server.KvraftServer;
import dev.kvraft.server.testing.TestNodes;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** kvsh's user, role and auth commands and --user (issue #17), on a node of its own (auth is turned on). */
@Timeout(120)
class KvshAuthTest {
  private static final String ROOT_PW = "root-Pw-123";
  private static final String SVC_PW = "svc-Pw-456";
  @TempDir
  static Path dir;
  static KvraftServer server;
  static String address;

  @BeforeAll
  static void start() throws Exception {
    server = KvraftServer.start(TestNodes.single(dir));
    address = "127.0.0.1:" + server.clientPort();
  }

  @AfterAll
  static void stop() {
    server.close();
  }

  static KvshRun kvsh(Map<String, String> env, String... args) {
    return KvshRun.at(address, env, "", args);
  }

  private static Map<String, String> env(String... kv) {
    var m = new HashMap<String, String>();
    for (int i = 0; i + 1 < kv.length; i += 2) {
      m.put(kv[i], kv[i + 1]);
    }
    return m;
  }

  @Test
  void usersRolesAndAuthFromTheShell() {
    var refused = kvsh(env(), "-c", "auth enable");
    assertEquals(1, refused.status());
    assertTrue(refused.err().contains("root role"), refused.err());

    var setup = kvsh(env("KVSH_NEW_PASSWORD", ROOT_PW), "-c", "user add root", "-c", "user grant-role root root",
        "-c", "role add app", "-c", "role grant app readwrite --prefix app/", "-c", "role grant app read config");
    assertEquals(0, setup.status(), setup.err());
    assertTrue(setup.out().contains("User root added") && setup.out().contains("Role app granted readwrite [app/, app0)")
        && setup.out().contains("Role app granted read key config"), setup.out());
    var svc = kvsh(env("KVSH_NEW_PASSWORD", SVC_PW), "-c", "user add svc", "-c", "user grant-role svc app");
    assertEquals(0, svc.status(), svc.err());
    var role = kvsh(env(), "-c", "role get app", "-c", "user get svc", "-c", "auth status");
    assertTrue(role.out().contains("readwrite [app/, app0)") && role.out().contains("Roles: app")
        && role.out().contains("Authentication Status: false"), role.out());

    assertEquals(0, kvsh(env(), "-c", "auth enable").status());
    var anonymous = kvsh(env(), "-c", "get app/x");
    assertEquals(1, anonymous.status());
    assertTrue(anonymous.err().contains("UNAUTHENTICATED"), anonymous.err());

    var asSvc = kvsh(env("KVSH_PASSWORD", SVC_PW), "--user", "svc", "-c", "put app/x 1", "-c", "get app/x");
    assertEquals(0, asSvc.status(), asSvc.err());
    assertTrue(asSvc.out().endsWith("1\n"), asSvc.out());
    var outside = kvsh(env("KVSH_PASSWORD", SVC_PW, "KVSH_USER", "svc"), "-c", "put other 1");
    assertEquals(1, outside.status());
    assertTrue(outside.err().contains("PERMISSION_DENIED") && outside.err().contains("write key other"),
        outside.err());
    var wrong = kvsh(env("KVSH_PASSWORD", "nope"), "--user", "svc", "-c", "get app/x");
    assertEquals(1, wrong.status());
    assertTrue(wrong.err().contains("wrong user name or password"), wrong.err());

    // Changing its own password ends the shell's session on the server: it logs in again with the new one.
    var newRootPw = "root-New-789";
    var passwd = kvsh(env("KVSH_PASSWORD", ROOT_PW, "KVSH_NEW_PASSWORD", newRootPw), "--user", "root",
        "-c", "user passwd root", "-c", "user list");
    assertEquals(0, passwd.status(), passwd.err());
    assertTrue(passwd.out().contains("Logged in again as root with the new password") && passwd.out().contains("svc"),
        passwd.out());
    var oldPw = kvsh(env("KVSH_PASSWORD", ROOT_PW), "--user", "root", "-c", "user list");
    assertEquals(1, oldPw.status(), "the old password no longer works: " + oldPw.out());

    var root = kvsh(env("KVSH_PASSWORD", newRootPw), "--user", "root", "-c", "user list", "-c", "role list",
        "-c", "auth disable");
    assertEquals(0, root.status(), root.err());
    assertTrue(root.out().contains("svc") && root.out().contains("app") && root.out().contains("Disabled"),
        root.out());
    for (var r : List.of(setup, svc, asSvc, passwd, root)) {
      assertFalse(r.out().contains(ROOT_PW) || r.out().contains(SVC_PW) || r.err().contains(ROOT_PW)
          || r.out().contains(newRootPw) || r.err().contains(newRootPw), "a password in kvsh's output");
    }
  }

  @Test
  void noPasswordAtAllAndWrongArgumentsAreClearErrors() {
    var noPassword = kvsh(env(), "--user", "svc", "-c", "get app/x");
    assertEquals(2, noPassword.status());
    assertTrue(noPassword.err().contains("KVSH_PASSWORD"), noPassword.err());
    var noNew = kvsh(env(), "-c", "user add eve");
    assertEquals(1, noNew.status());
    assertTrue(noNew.err().contains("KVSH_NEW_PASSWORD"), noNew.err());
    var badType = kvsh(env(), "-c", "role grant app sideways k");
    assertEquals(1, badType.status());
    assertTrue(badType.err().contains("not a permission"), badType.err());
    var badSub = kvsh(env(), "-c", "user frob");
    assertEquals(1, badSub.status());
    assertTrue(badSub.err().contains("unknown user subcommand"), badSub.err());
  }
}
