package dev.kvraft.server.auth;

import static org.junit.jupiter.api.Assertions.*;

import com.google.protobuf.ByteString;
import dev.kvraft.proto.AuthChange;
import dev.kvraft.proto.Error;
import dev.kvraft.proto.Permission;
import org.junit.jupiter.api.Test;

/** The replicated auth state alone: permission coverage, the root rules, and the snapshot round trip. */
class AuthStateTest {
  private static ByteString b(String s) {
    return ByteString.copyFromUtf8(s);
  }

  private static AuthChange.Builder a(AuthChange.Action action) {
    return AuthChange.newBuilder().setAction(action);
  }

  private static Permission perm(Permission.Type t, String key, String end) {
    return Permission.newBuilder().setType(t).setKey(b(key)).setRangeEnd(b(end)).build();
  }

  /** root (root role) and alice (role r), auth on. */
  private static AuthState setUp(Permission... perms) {
    var s = new AuthState();
    for (var c : new AuthChange.Builder[] {
        a(AuthChange.Action.USER_ADD).setName("root").setPasswordHash("h"),
        a(AuthChange.Action.USER_GRANT_ROLE).setName("root").setRole("root"),
        a(AuthChange.Action.ROLE_ADD).setRole("r"),
        a(AuthChange.Action.USER_ADD).setName("alice").setPasswordHash("h"),
        a(AuthChange.Action.USER_GRANT_ROLE).setName("alice").setRole("r"),
        a(AuthChange.Action.AUTH_ENABLE)}) {
      assertFalse(s.apply(c.build(), "root").hasError());
    }
    for (var p : perms) {
      assertFalse(s.apply(a(AuthChange.Action.ROLE_GRANT).setRole("r").setPermission(p).build(), "root").hasError());
    }
    return s;
  }

  @Test
  void aPermissionCoversItsKeyOrItsRangeAndNothingElse() {
    var s = setUp(perm(Permission.Type.READ, "k", ""), perm(Permission.Type.READWRITE, "a/", "a0"),
        perm(Permission.Type.WRITE, "z", "\0"));
    assertTrue(s.check("alice", false, b("k"), b(""), false).isEmpty());
    assertTrue(s.check("alice", true, b("k"), b(""), false).isPresent(), "read only");
    assertTrue(s.check("alice", false, b("k2"), b(""), false).isPresent());
    assertTrue(s.check("alice", true, b("a/x"), b(""), false).isEmpty());
    assertTrue(s.check("alice", false, b("a/"), b("a0"), true).isEmpty(), "the whole prefix");
    assertTrue(s.check("alice", false, b("a/"), b("b"), true).isPresent(), "a range reaching past it");
    assertTrue(s.check("alice", false, b("a/"), b(""), true).isPresent(), "to the end");
    assertTrue(s.check("alice", true, b("zz"), b("\0"), true).isEmpty(), "from z to the end");
    assertTrue(s.check("alice", false, b("zz"), b(""), false).isPresent(), "write only");
    var denied = s.check("alice", true, b("k"), b(""), false).orElseThrow();
    assertEquals(Error.Code.PERMISSION_DENIED, denied.getCode());
    assertTrue(denied.getMessage().contains("alice") && denied.getMessage().contains("write key k"),
        denied.getMessage());
    assertEquals(Error.Code.UNAUTHENTICATED, s.check("", false, b("k"), b(""), false).orElseThrow().getCode());
    assertEquals(Error.Code.UNAUTHENTICATED, s.check("bob", false, b("k"), b(""), false).orElseThrow().getCode());
    assertTrue(s.check("root", true, b("anything"), b(""), true).isEmpty());
  }

  @Test
  void onlyRootChangesAuthOnceItIsOnAndTheLastRootCannotGo() {
    var s = setUp();
    var byAlice = s.apply(a(AuthChange.Action.ROLE_ADD).setRole("x").build(), "alice");
    assertEquals(Error.Code.PERMISSION_DENIED, byAlice.getError().getCode());
    assertEquals(Error.Code.CONFLICT,
        s.apply(a(AuthChange.Action.USER_DELETE).setName("root").build(), "root").getError().getCode());
    assertEquals(Error.Code.CONFLICT, s.apply(a(AuthChange.Action.USER_REVOKE_ROLE).setName("root").setRole("root")
        .build(), "root").getError().getCode());
    assertFalse(s.apply(a(AuthChange.Action.AUTH_DISABLE).build(), "root").hasError());
    assertFalse(s.apply(a(AuthChange.Action.ROLE_ADD).setRole("x").build(), "").hasError(), "auth off: anyone");
  }

  @Test
  void aSnapshotCarriesUsersRolesAndHashesAndReadsBackTheSame() {
    var s = setUp(perm(Permission.Type.READWRITE, "a/", "a0"), perm(Permission.Type.READ, "\u00ff\u0000", ""));
    var system = s.forSnapshot();
    assertEquals("r", system.get("auth.user.alice"));
    assertEquals("h", system.get("auth.secret.alice"));
    assertEquals("true", system.get("auth.enabled"));
    var copy = new AuthState();
    copy.installed(system);
    assertEquals(s.read(), copy.read());
    assertEquals(system, copy.forSnapshot());
    assertTrue(copy.check("alice", true, b("a/1"), b(""), false).isEmpty());
    assertEquals("h", copy.view().secrets().get("alice"));
  }

  @Test
  void aSnapshotReadsBackPermissionsWhoseKeysLookLikeItsOwnSeparators() {
    // A role's permissions are joined with "; " in the snapshot, each with a readable description of its keys.
    var s = setUp(perm(Permission.Type.READ, "a; b", ""), perm(Permission.Type.WRITE, "x; readwrite 00 00 (", "y)"),
        perm(Permission.Type.READWRITE, "k", ""));
    var copy = new AuthState();
    copy.installed(s.forSnapshot());
    assertEquals(s.read(), copy.read(), "the same three permissions, no more");
    assertTrue(copy.check("alice", false, b("a; b"), b(""), false).isEmpty());
    assertTrue(copy.check("alice", false, b("other"), b(""), false).isPresent(), "no permission on other keys");
  }

  @Test
  void aSnapshotAnEarlierBuildWroteWithSuchKeysOrAnUnknownTypeStillInstalls() {
    // Before 2026-12-07 a key holding "; " was described as text, and a negative type was kept as 'unrecognized'.
    var s = setUp();
    var system = new java.util.HashMap<>(s.forSnapshot());
    system.put("auth.role.r", "read 613b2062  (read key a; b); unrecognized 6b  (unrecognized key k); write 6b  (write"
        + " key k)");
    var copy = new AuthState();
    copy.installed(system);
    assertTrue(copy.check("alice", false, b("a; b"), b(""), false).isEmpty(), "read key 'a; b'");
    assertTrue(copy.check("alice", true, b("k"), b(""), false).isEmpty(), "write key k");
    assertTrue(copy.check("alice", false, b("k"), b(""), false).isPresent(), "no more: the unknown type is left out");

    // A type of a newer build's is left out too; what follows it still reads.
    system.put("auth.role.r", "admin 6b  (admin key k); read 6b  (read key k)");
    var newer = new AuthState();
    newer.installed(system);
    assertTrue(newer.check("alice", false, b("k"), b(""), false).isEmpty(), "read key k");
    assertTrue(newer.check("alice", true, b("k"), b(""), false).isPresent(), "nothing from the unknown type");

    // A key whose text, shown raw by those builds, reads like one more permission (readwrite on every key) is one
    // permission still: its own.
    var forged = "a; readwrite 00 00 (b";
    system.put("auth.role.r", "read " + java.util.HexFormat.of().formatHex(forged.getBytes(
        java.nio.charset.StandardCharsets.UTF_8)) + "  (read key " + forged + ")");
    var strict = new AuthState();
    strict.installed(system);
    assertTrue(strict.check("alice", false, b(forged), b(""), false).isEmpty(), "read key '" + forged + "'");
    assertTrue(strict.check("alice", true, b("\0"), b(""), false).isPresent(), "no readwrite from a key's text");
    assertEquals(1, strict.read().getRolesList().stream().filter(r -> r.getName().equals("r")).findFirst()
        .orElseThrow().getPermissionsCount());
  }

  @Test
  void aGrantOfAnUnknownPermissionTypeIsRefusedAndKeepsNothing() {
    var s = setUp();
    var before = s.forSnapshot();
    var unknown = Permission.newBuilder().setTypeValue(-1).setKey(b("k")).build();
    var answer = s.apply(a(AuthChange.Action.ROLE_GRANT).setRole("r").setPermission(unknown).build(), "root");
    assertEquals(Error.Code.INVALID_ARGUMENT, answer.getError().getCode(), answer.toString());
    assertEquals(before, s.forSnapshot());
  }

  @Test
  void passwordsVerifyOnlyTheRightOne() {
    var hash = Passwords.hash("correct horse");
    assertTrue(Passwords.isHash(hash));
    assertFalse(hash.contains("correct horse"));
    assertTrue(Passwords.verify("correct horse", hash));
    assertFalse(Passwords.verify("correct horsE", hash));
    assertFalse(Passwords.verify("", ""), "no hash never matches");
    assertNotEquals(hash, Passwords.hash("correct horse"), "salted");
  }
}
