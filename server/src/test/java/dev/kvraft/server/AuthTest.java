package dev.kvraft.server;

import static dev.kvraft.server.testing.Requests.b;
import static org.junit.jupiter.api.Assertions.*;

import dev.kvraft.proto.AuthChange;
import dev.kvraft.proto.Authenticate;
import dev.kvraft.proto.Error;
import dev.kvraft.proto.Permission;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import dev.kvraft.proto.Snapshot;
import dev.kvraft.server.testing.Await;
import dev.kvraft.server.testing.Nodes;
import dev.kvraft.server.testing.RawClient;
import dev.kvraft.server.testing.Requests;
import dev.kvraft.server.testing.RunningServers;
import dev.kvraft.server.testing.TestNodes;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Users, roles and permissions (issue #17) on a real three-node cluster: what each command needs, permission changes
 * on open connections, writes through a follower, brute force, secrets kept out of kvraft.db and snapshots, and
 * users surviving a restart.
 */
@Tag("slow") // three real nodes and slow password hashes
@Timeout(180)
class AuthTest {
  private static final Duration WAIT = Duration.ofSeconds(30);
  private static final String ROOT_PASSWORD = "r00t-Secret-pw";
  private static final String ALICE_PASSWORD = "alice-Secret-pw";
  @RegisterExtension
  final RunningServers servers = new RunningServers();
  private final AtomicLong ids = new AtomicLong(1);


  private Response call(RawClient c, Request.Builder r) throws Exception {
    return c.call(r.setId(ids.getAndIncrement()).build());
  }

  private Response change(RawClient c, AuthChange.Builder change) throws Exception {
    return call(c, Request.newBuilder().setAuthChange(change));
  }

  private static AuthChange.Builder action(AuthChange.Action a) {
    return AuthChange.newBuilder().setAction(a);
  }

  private Response authenticate(RawClient c, String user, String password) throws Exception {
    return call(c, Request.newBuilder().setAuthenticate(Authenticate.newBuilder().setUser(user)
        .setPassword(password)));
  }

  private static void ok(Response r) {
    assertFalse(r.hasError(), r.toString());
  }

  private static void refused(Response r, Error.Code code, String... words) {
    assertTrue(r.hasError(), "expected " + code + ", got " + r);
    assertEquals(code, r.getError().getCode(), r.toString());
    for (var w : words) {
      assertTrue(r.getError().getMessage().contains(w), "'" + w + "' missing: " + r.getError().getMessage());
    }
  }

  private static Request.Builder get(String key) {
    return Requests.get(0, key).toBuilder();
  }

  private static Request.Builder put(String key, String value) {
    return Requests.put(0, key, value).toBuilder();
  }

  private static Request.Builder put(String key, String value, long lease) {
    var r = put(key, value);
    r.getPutBuilder().setLease(lease);
    return r;
  }

  @Test
  void usersRolesAndPermissionsOnAThreeNodeCluster(@TempDir Path dir) throws Exception {
    for (var c : TestNodes.cluster(dir, 3, Map.of("snapshot.threshold", "20"))) {
      servers.start(c);
    }
    var leader = Nodes.awaitLeader(WAIT, servers.list());
    var follower = servers.list().stream().filter(s -> s != leader).findFirst().orElseThrow();

    try (var admin = RawClient.to(follower)) {
      // Before auth is on, anyone may set it up; enabling needs a root user first.
      refused(change(admin, action(AuthChange.Action.AUTH_ENABLE)), Error.Code.INVALID_ARGUMENT, "root role");
      ok(change(admin, action(AuthChange.Action.USER_ADD).setName("root").setPassword(ROOT_PASSWORD)));
      ok(change(admin, action(AuthChange.Action.USER_GRANT_ROLE).setName("root").setRole("root")));
      ok(change(admin, action(AuthChange.Action.ROLE_ADD).setRole("reader")));
      ok(change(admin, action(AuthChange.Action.ROLE_GRANT).setRole("reader").setPermission(Permission.newBuilder()
          .setType(Permission.Type.READ).setKey(b("pub/")).setRangeEnd(b("pub0")))));
      ok(change(admin, action(AuthChange.Action.USER_ADD).setName("alice").setPassword(ALICE_PASSWORD)));
      ok(change(admin, action(AuthChange.Action.USER_GRANT_ROLE).setName("alice").setRole("reader")));
      refused(change(admin, action(AuthChange.Action.USER_ADD).setName("alice").setPassword("x")),
          Error.Code.CONFLICT, "already exists");
      ok(call(admin, put("pub/a", "1")));
      ok(call(admin, put("sec/x", "1")));
      ok(change(admin, action(AuthChange.Action.AUTH_ENABLE)));

      // Now nothing without a user: status still answers (clients find the leader with it).
      Await.until("the follower to apply 'auth enable'", WAIT, () -> call(admin, get("pub/a")).hasError());
      refused(call(admin, get("pub/a")), Error.Code.UNAUTHENTICATED, "authenticate");
      refused(call(admin, put("pub/a", "2")), Error.Code.UNAUTHENTICATED);
      ok(call(admin, Request.newBuilder().setStatus(dev.kvraft.proto.Status.getDefaultInstance())));
    }

    // A wrong password and an unknown user get the same answer.
    try (var c = RawClient.to(leader)) {
      var wrong = authenticate(c, "alice", "nope");
      var unknown = authenticate(c, "mallory", "nope");
      refused(wrong, Error.Code.UNAUTHENTICATED, "wrong user name or password");
      assertEquals(wrong.getError().getMessage(), unknown.getError().getMessage());
    }

    try (var alice = RawClient.to(follower); var root = RawClient.to(leader)) {
      ok(authenticate(alice, "alice", ALICE_PASSWORD));
      ok(authenticate(root, "root", ROOT_PASSWORD));
      assertEquals("1", call(alice, get("pub/a")).getGet().getKv().getValue().toStringUtf8());
      refused(call(alice, get("sec/x")), Error.Code.PERMISSION_DENIED, "alice", "read key sec/x");
      refused(call(alice, Request.newBuilder().setScan(dev.kvraft.proto.Scan.newBuilder().setStart(b("a")))),
          Error.Code.PERMISSION_DENIED, "read [a, end)");
      ok(call(alice, Request.newBuilder().setScan(dev.kvraft.proto.Scan.newBuilder().setStart(b("pub/"))
          .setEnd(b("pub0")))));
      // A write through a follower by a read-only user.
      refused(call(alice, put("pub/a", "3")), Error.Code.PERMISSION_DENIED, "write key pub/a");
      refused(call(alice, Request.newBuilder().setSnapshot(Snapshot.getDefaultInstance())),
          Error.Code.PERMISSION_DENIED, "root");
      refused(change(alice, action(AuthChange.Action.USER_ADD).setName("eve").setPassword("x")),
          Error.Code.PERMISSION_DENIED, "root");

      // Granting and revoking take effect on alice's open connection.
      var write = Permission.newBuilder().setType(Permission.Type.WRITE).setKey(b("pub/")).setRangeEnd(b("pub0"));
      ok(change(root, action(AuthChange.Action.ROLE_GRANT).setRole("reader").setPermission(write)));
      Await.until("alice's write to be allowed on her open connection", WAIT,
          () -> !call(alice, put("pub/b", "by alice")).hasError());
      ok(change(root, action(AuthChange.Action.ROLE_REVOKE).setRole("reader").setPermission(write)));
      Await.until("alice's write to be refused again", WAIT,
          () -> call(alice, put("pub/c", "by alice")).hasError());
      var listed = call(root, Request.newBuilder().setAuthRead(dev.kvraft.proto.AuthRead.getDefaultInstance()));
      assertTrue(listed.getAuthRead().getEnabled());
      assertEquals(List.of("reader"), listed.getAuthRead().getUsersList().stream()
          .filter(u -> u.getName().equals("alice")).findFirst().orElseThrow().getRolesList());
      ok(call(root, Request.newBuilder().setSnapshot(Snapshot.getDefaultInstance())));

      // Backups are root's: alice can neither start one nor read root's, even knowing its id.
      refused(call(alice, Request.newBuilder().setBackup(dev.kvraft.proto.Backup.getDefaultInstance())),
          Error.Code.PERMISSION_DENIED, "root");
      try (var rootOnFollower = RawClient.to(follower)) {
        ok(authenticate(rootOnFollower, "root", ROOT_PASSWORD));
        var backup = call(rootOnFollower, Request.newBuilder().setBackup(dev.kvraft.proto.Backup.getDefaultInstance()));
        ok(backup);
        var chunk = Request.newBuilder().setBackupChunk(dev.kvraft.proto.BackupChunk.newBuilder()
            .setBackupId(backup.getBackup().getBackupId()));
        refused(call(alice, chunk), Error.Code.PERMISSION_DENIED, "root");
        ok(call(rootOnFollower, chunk));
      }
    }

    // No password, and no hash, in any node's kvraft.db; snapshots hold users, hashes apart, never a password.
    for (var s : servers.list()) {
      Await.until(s.config().nodeId() + " to have applied the grants", WAIT,
          () -> Nodes.status(s).getAppliedIndex() >= Nodes.status(leader).getAppliedIndex());
    }
    for (var s : servers.list()) {
      for (var f : List.of("kvraft.db", "kvraft.db-wal")) {
        var file = s.config().dataDir().resolve(f);
        if (Files.exists(file)) {
          var bytes = new String(Files.readAllBytes(file), java.nio.charset.StandardCharsets.ISO_8859_1);
          assertFalse(bytes.contains(ALICE_PASSWORD) || bytes.contains(ROOT_PASSWORD), "a password in " + file);
          assertFalse(bytes.contains("pbkdf2-sha256$"), "a password hash in " + file);
        }
      }
    }
    var snapshots = new ArrayList<Path>();
    try (var files = Files.walk(leader.config().dataDir().resolve("ratis"))) {
      files.filter(p -> p.getFileName().toString().matches("snapshot\\.\\d+_\\d+")).forEach(snapshots::add);
    }
    assertFalse(snapshots.isEmpty());
    for (var f : snapshots) {
      var text = new String(Files.readAllBytes(f), java.nio.charset.StandardCharsets.ISO_8859_1);
      assertFalse(text.contains(ALICE_PASSWORD) || text.contains(ROOT_PASSWORD), "a password in " + f);
    }
    var newest = snapshots.stream().max(java.util.Comparator.comparingLong(
        dev.kvraft.storage.SnapshotFiles::indexOf)).orElseThrow();
    var meta = dev.kvraft.storage.SnapshotFiles.verify(newest);
    assertEquals("reader", meta.system().get("auth.user.alice"));
    assertEquals("true", meta.system().get("auth.enabled"));

    // A restarted node knows the users (from its snapshot and log).
    var config = follower.config();
    follower.close();
    servers.remove(follower);
    var restarted = servers.start(config);
    Await.until("the restarted node to serve alice", WAIT, () -> {
      try (var c = RawClient.to(restarted)) {
        return !authenticate(c, "alice", ALICE_PASSWORD).hasError() && !call(c, get("pub/a")).hasError();
      }
    });

    // Brute force: a connection is closed after 3 failures; an address is locked out after 5.
    try (var c = RawClient.to(restarted)) {
      for (int i = 0; i < 3; i++) {
        refused(authenticate(c, "alice", "guess" + i), Error.Code.UNAUTHENTICATED);
      }
      assertNull(c.read(), "the connection is closed after three failures");
    }
    try (var c = RawClient.to(restarted)) {
      refused(authenticate(c, "alice", "guess3"), Error.Code.UNAUTHENTICATED, "wrong");
      refused(authenticate(c, "alice", "guess4"), Error.Code.UNAUTHENTICATED, "wrong");
    }
    try (var c = RawClient.to(restarted)) {
      // Even the right password: the address is locked out, and the node does not spend a hash on it.
      refused(authenticate(c, "alice", ALICE_PASSWORD), Error.Code.UNAUTHENTICATED, "too many failed");
    }
  }

  @Test
  void aLeaseRevokeNeedsWriteAndItsKeysNeedReadOnEveryKeyOfTheLease(@TempDir Path dir) throws Exception {
    for (var c : TestNodes.cluster(dir, 3, Map.of())) {
      servers.start(c);
    }
    var leader = Nodes.awaitLeader(WAIT, servers.list());
    var follower = servers.list().stream().filter(s -> s != leader).findFirst().orElseThrow();
    long lease;
    long appLease;
    try (var root = RawClient.to(leader)) {
      ok(change(root, action(AuthChange.Action.USER_ADD).setName("root").setPassword(ROOT_PASSWORD)));
      ok(change(root, action(AuthChange.Action.USER_GRANT_ROLE).setName("root").setRole("root")));
      for (var grant : List.of(Permission.newBuilder().setType(Permission.Type.READ).setKey(b("x/"))
          .setRangeEnd(b("x0")), Permission.newBuilder().setType(Permission.Type.READWRITE).setKey(b("app/"))
          .setRangeEnd(b("app0")))) {
        var name = grant.getType() == Permission.Type.READ ? "alice" : "app";
        ok(change(root, action(AuthChange.Action.ROLE_ADD).setRole(name)));
        ok(change(root, action(AuthChange.Action.ROLE_GRANT).setRole(name).setPermission(grant)));
        ok(change(root, action(AuthChange.Action.USER_ADD).setName(name).setPassword(ALICE_PASSWORD)));
        ok(change(root, action(AuthChange.Action.USER_GRANT_ROLE).setName(name).setRole(name)));
      }
      ok(change(root, action(AuthChange.Action.AUTH_ENABLE)));
      ok(authenticate(root, "root", ROOT_PASSWORD));
      lease = call(root, Request.newBuilder().setLeaseGrant(dev.kvraft.proto.LeaseGrant.newBuilder()
          .setTtlSeconds(600))).getLeaseGrant().getId();
      ok(call(root, put("app/secret", "s", lease)));
      ok(call(root, put("sec/x", "s", lease)));
      appLease = call(root, Request.newBuilder().setLeaseGrant(dev.kvraft.proto.LeaseGrant.newBuilder()
          .setTtlSeconds(600))).getLeaseGrant().getId();
      ok(call(root, put("app/a", "1", appLease)));
    }

    // Through a follower, alice (read on x/ only) can list the leases but neither revoke one holding keys she may
    // not write nor see their names.
    try (var alice = RawClient.to(follower); var app = RawClient.to(follower)) {
      ok(authenticate(alice, "alice", ALICE_PASSWORD));
      ok(authenticate(app, "app", ALICE_PASSWORD));
      assertEquals(2, call(alice, Request.newBuilder().setLeaseList(dev.kvraft.proto.LeaseList.getDefaultInstance()))
          .getLeaseList().getLeasesCount());
      var revoke = Request.newBuilder().setLeaseRevoke(dev.kvraft.proto.LeaseRevoke.newBuilder().setId(lease));
      refused(call(alice, revoke), Error.Code.PERMISSION_DENIED, "alice", "revoke lease " + lease, "write");
      refused(call(app, revoke), Error.Code.PERMISSION_DENIED, "app", "key sec/x", "write");
      // Nor may app attach a key of its own to that lease (which would make its revoke need write on that key too).
      refused(call(app, put("app/b", "1", lease)), Error.Code.PERMISSION_DENIED, "app", "key app/b",
          "lease " + lease, "key sec/x", "write");
      var keys = Request.newBuilder().setLeaseTimeToLive(dev.kvraft.proto.LeaseTimeToLive.newBuilder().setId(lease)
          .setKeys(true));
      refused(call(alice, keys), Error.Code.PERMISSION_DENIED, "alice", "keys of lease " + lease, "read");
      var ttl = call(alice, Request.newBuilder().setLeaseTimeToLive(dev.kvraft.proto.LeaseTimeToLive.newBuilder()
          .setId(lease)));
      ok(ttl);
      assertEquals(0, ttl.getLeaseTimeToLive().getKeysCount());

      // app may write every key of its lease: the revoke goes through, and deletes them.
      var revoked = call(app, Request.newBuilder().setLeaseRevoke(dev.kvraft.proto.LeaseRevoke.newBuilder()
          .setId(appLease)));
      ok(revoked);
      assertEquals(1, revoked.getLeaseRevoke().getDeleted());
    }

    // The keys of the lease alice and app could not revoke are still on every node, and no other; app/a is gone
    // everywhere.
    for (var s : servers.list()) {
      try (var root = RawClient.to(s)) {
        ok(authenticate(root, "root", ROOT_PASSWORD));
        assertEquals("s", call(root, get("app/secret")).getGet().getKv().getValue().toStringUtf8());
        assertEquals("s", call(root, get("sec/x")).getGet().getKv().getValue().toStringUtf8());
        assertFalse(call(root, get("app/a")).getGet().hasKv());
        assertFalse(call(root, get("app/b")).getGet().hasKv());
        assertEquals(List.of(b("app/secret"), b("sec/x")), call(root, Request.newBuilder().setLeaseTimeToLive(
            dev.kvraft.proto.LeaseTimeToLive.newBuilder().setId(lease).setKeys(true))).getLeaseTimeToLive()
            .getKeysList());
      }
    }
  }

  @Test
  void aPasswordChangeOrADeletionEndsTheUsersOpenSessions(@TempDir Path dir) throws Exception {
    // Writes wait up to 12 s (the client's socket gives up at 15 s): a loaded machine hashes and fsyncs slowly.
    servers.start(TestNodes.single(dir, Map.of("request.timeout.ms", "12000")));
    var node = Nodes.awaitLeader(WAIT, servers.list());
    try (var root = RawClient.to(node); var alice = RawClient.to(node); var other = RawClient.to(node)) {
      ok(change(root, action(AuthChange.Action.USER_ADD).setName("root").setPassword(ROOT_PASSWORD)));
      ok(change(root, action(AuthChange.Action.USER_GRANT_ROLE).setName("root").setRole("root")));
      ok(change(root, action(AuthChange.Action.ROLE_ADD).setRole("reader")));
      ok(change(root, action(AuthChange.Action.ROLE_GRANT).setRole("reader").setPermission(Permission.newBuilder()
          .setType(Permission.Type.READ).setKey(b("pub/")).setRangeEnd(b("pub0")))));
      ok(change(root, action(AuthChange.Action.USER_ADD).setName("alice").setPassword(ALICE_PASSWORD)));
      ok(change(root, action(AuthChange.Action.USER_GRANT_ROLE).setName("alice").setRole("reader")));
      ok(call(root, put("pub/a", "1")));
      ok(change(root, action(AuthChange.Action.AUTH_ENABLE)));
      ok(authenticate(root, "root", ROOT_PASSWORD));
      ok(authenticate(alice, "alice", ALICE_PASSWORD));
      ok(call(alice, get("pub/a")));

      // Whoever learnt alice's old password and connected with it loses the connection's session when root
      // changes it (as etcd invalidates her tokens); the old password no longer authenticates, the new one does.
      ok(change(root, action(AuthChange.Action.USER_PASSWORD).setName("alice").setPassword("alice-New-pw")));
      refused(call(alice, get("pub/a")), Error.Code.UNAUTHENTICATED, "authenticate", "password changes");
      refused(authenticate(alice, "alice", ALICE_PASSWORD), Error.Code.UNAUTHENTICATED);
      ok(authenticate(alice, "alice", "alice-New-pw"));
      ok(call(alice, get("pub/a")));
      ok(call(root, get("pub/a")));

      // A user deleted and added again under the same name (perhaps someone else) does not inherit the old
      // user's open connections.
      ok(authenticate(other, "alice", "alice-New-pw"));
      ok(change(root, action(AuthChange.Action.USER_DELETE).setName("alice")));
      ok(change(root, action(AuthChange.Action.USER_ADD).setName("alice").setPassword("alice-Third-pw")));
      ok(change(root, action(AuthChange.Action.USER_GRANT_ROLE).setName("alice").setRole("reader")));
      refused(call(other, get("pub/a")), Error.Code.UNAUTHENTICATED);
      refused(call(alice, get("pub/a")), Error.Code.UNAUTHENTICATED);
      ok(call(root, get("pub/a")));
    }
  }
}
