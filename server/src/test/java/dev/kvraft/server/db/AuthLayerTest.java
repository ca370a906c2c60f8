package dev.kvraft.server.db;

import static org.junit.jupiter.api.Assertions.*;

import com.google.protobuf.ByteString;
import dev.kvraft.proto.AuthChange;
import dev.kvraft.proto.Consistency;
import dev.kvraft.proto.Error;
import dev.kvraft.proto.Get;
import dev.kvraft.proto.LeaseGrant;
import dev.kvraft.proto.LeaseKeepAlive;
import dev.kvraft.proto.LeaseList;
import dev.kvraft.proto.LeaseRevoke;
import dev.kvraft.proto.LeaseTimeToLive;
import dev.kvraft.proto.LogEntry;
import dev.kvraft.proto.Permission;
import dev.kvraft.proto.Put;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import dev.kvraft.proto.Txn;
import dev.kvraft.proto.WriteOp;
import dev.kvraft.server.auth.AuthState;
import dev.kvraft.server.config.ServerConfig;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The auth layer around the apply step: a write is checked against the permissions in force when it applies, on
 * every node alike, whatever node it came through (a follower forwards the user with it). Lease revokes and
 * TimeToLive with keys are checked against the keys attached to the lease, in a loop as a node runs it.
 */
@Timeout(60)
class AuthLayerTest {
  private final KvState state = new KvState();
  private final AuthState auth = new AuthState();
  private final OpApplier apply = OpApplier.of(state).wrap(new AuthLayer(auth, id -> List.of())::around);

  private Error applyAs(String user, WriteOp.Builder op) {
    var r = apply.apply(op.setUser(user).build(), KvState.OpListener.NONE);
    return r.hasError() ? r.getError() : null;
  }

  private static WriteOp.Builder auth(AuthChange.Builder c) {
    return WriteOp.newBuilder().setAuth(c);
  }

  private static WriteOp.Builder put(String key) {
    return WriteOp.newBuilder().setPut(Put.newBuilder().setKey(ByteString.copyFromUtf8(key))
        .setValue(ByteString.copyFromUtf8("v")));
  }

  @Test
  void aWriteItsUserMayNotMakeChangesNothingWhereverItCameFrom() {
    assertNull(applyAs("", auth(AuthChange.newBuilder().setAction(AuthChange.Action.USER_ADD).setName("root"))));
    assertNull(applyAs("", auth(AuthChange.newBuilder().setAction(AuthChange.Action.USER_GRANT_ROLE).setName("root")
        .setRole("root"))));
    assertNull(applyAs("", auth(AuthChange.newBuilder().setAction(AuthChange.Action.ROLE_ADD).setRole("ro"))));
    assertNull(applyAs("", auth(AuthChange.newBuilder().setAction(AuthChange.Action.ROLE_GRANT).setRole("ro")
        .setPermission(Permission.newBuilder().setType(Permission.Type.READ).setKey(ByteString.copyFromUtf8("k"))))));
    assertNull(applyAs("", auth(AuthChange.newBuilder().setAction(AuthChange.Action.USER_ADD).setName("alice"))));
    assertNull(applyAs("", auth(AuthChange.newBuilder().setAction(AuthChange.Action.USER_GRANT_ROLE).setName("alice")
        .setRole("ro"))));
    assertNull(applyAs("", put("k")), "auth off: anyone writes");
    long revision = state.revision();
    assertNull(applyAs("", auth(AuthChange.newBuilder().setAction(AuthChange.Action.AUTH_ENABLE))));

    var denied = applyAs("alice", put("k"));
    assertEquals(Error.Code.PERMISSION_DENIED, denied.getCode());
    assertEquals(Error.Code.UNAUTHENTICATED, applyAs("", put("k")).getCode());
    assertEquals(revision, state.revision(), "refused writes change nothing");
    assertNull(applyAs("root", put("k")));
    assertEquals(revision + 1, state.revision());
  }

  // ---- leases: a revoke deletes the lease's keys, a TimeToLive with keys names them ----

  /**
   * A loop as a node runs it, its fake Raft making it the leader. {@link #commit} applies another node's committed
   * entry; {@link #ask} sends a request as a user (checked where it arrives), commits what it proposes and lets
   * its read barrier pass. Users: root; {@code ro} reads {@code x/}; {@code app} reads and writes {@code app/};
   * {@code wo} only writes {@code w/}.
   * Auth is on.
   */
  private static final class Node implements AutoCloseable {
    final FakeRaft raft = new FakeRaft();
    final DatabaseLoop loop = new DatabaseLoop(ServerConfig.fromMap(Map.of("node.id", "n1", "cluster",
        "n1=127.0.0.1:7001:7002", "request.timeout.ms", "5000")), "n1@test");
    final BlockingQueue<Response> answers = new LinkedBlockingQueue<>();
    long index;
    long id;

    Node() throws Exception {
      raft.leader = true;
      loop.bind(raft, new FakeLink(), ApplyObserver.NONE, null);
      loop.start();
      commit("", auth(AuthChange.newBuilder().setAction(AuthChange.Action.USER_ADD).setName("root")));
      commit("", auth(AuthChange.newBuilder().setAction(AuthChange.Action.USER_GRANT_ROLE).setName("root")
          .setRole("root")));
      user("ro", Permission.Type.READ, "x/", "x0");
      user("app", Permission.Type.READWRITE, "app/", "app0");
      user("wo", Permission.Type.WRITE, "w/", "w0");
      commit("", auth(AuthChange.newBuilder().setAction(AuthChange.Action.AUTH_ENABLE)));
    }

    /** A user of that name with a role of that name granting {@code type} on {@code [key, end)}. */
    private void user(String name, Permission.Type type, String key, String end) throws Exception {
      commit("", auth(AuthChange.newBuilder().setAction(AuthChange.Action.ROLE_ADD).setRole(name)));
      commit("", auth(AuthChange.newBuilder().setAction(AuthChange.Action.ROLE_GRANT).setRole(name)
          .setPermission(Permission.newBuilder().setType(type).setKey(b(key)).setRangeEnd(b(end)))));
      commit("", auth(AuthChange.newBuilder().setAction(AuthChange.Action.USER_ADD).setName(name)));
      commit("", auth(AuthChange.newBuilder().setAction(AuthChange.Action.USER_GRANT_ROLE).setName(name)
          .setRole(name)));
    }

    /** Applies a committed entry of another node's holding {@code op} as {@code user}. */
    void commit(String user, WriteOp.Builder op) throws Exception {
      apply(LogEntry.newBuilder().setProposer("n2@other").addOps(op.setUser(user)).build());
    }

    private void apply(LogEntry entry) throws Exception {
      loop.stateMachine().applied(LogPosition.of(1, ++index), entry.toByteString()).get(5, TimeUnit.SECONDS);
    }

    /** Sends {@code r} as {@code user} (a connection sets the user) without waiting. */
    void send(String user, Request.Builder r) throws InterruptedException {
      assertTrue(loop.commands().submit(r.setId(++id).setUser(user).build(), answers::add,
          System.nanoTime() + TimeUnit.SECONDS.toNanos(5), RequestTrace.receivedNow("test")));
    }

    /** The next proposal with ops (the leader also proposes its member token, which has none). */
    FakeRaft.Proposal proposed() throws Exception {
      while (true) {
        var p = raft.proposals.poll(10, TimeUnit.SECONDS);
        assertNotNull(p, "nothing proposed within 10 s");
        if (p.entry().getOpsCount() > 0) {
          return p;
        }
      }
    }

    /** Commits a proposal of this node's: its op's answer goes to the request that made it. */
    void commit(FakeRaft.Proposal p) throws Exception {
      p.result().complete(null);
      apply(p.entry());
    }

    /** Sends {@code r} as {@code user}, commits whatever it proposes, passes its barrier: its answer. */
    Response ask(String user, Request.Builder r) throws Exception {
      send(user, r);
      long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (System.nanoTime() < until) {
        var answer = answers.poll(5, TimeUnit.MILLISECONDS);
        if (answer != null) {
          return answer;
        }
        var barrier = raft.barriers.poll();
        if (barrier != null) {
          barrier.complete(null);
        }
        var p = raft.proposals.poll();
        if (p != null) {
          commit(p);
        }
      }
      return fail("no answer to " + r.getCommandCase() + " within 10 s");
    }

    /** The value of {@code key} on this node (root's stale read), or null. */
    String value(String key) throws Exception {
      var r = ask("root", Request.newBuilder().setGet(Get.newBuilder().setKey(b(key))
          .setConsistency(Consistency.STALE)));
      assertFalse(r.hasError(), r.toString());
      return r.getGet().hasKv() ? r.getGet().getKv().getValue().toStringUtf8() : null;
    }

    @Override
    public void close() throws InterruptedException {
      loop.close();
    }
  }

  private static ByteString b(String s) {
    return ByteString.copyFromUtf8(s);
  }

  private static WriteOp.Builder grant(long lease) {
    return WriteOp.newBuilder().setLeaseGrant(LeaseGrant.newBuilder().setId(lease).setTtlSeconds(600));
  }

  private static WriteOp.Builder put(String key, long lease) {
    return WriteOp.newBuilder().setPut(Put.newBuilder().setKey(b(key)).setValue(b("v")).setLease(lease));
  }

  private static WriteOp.Builder revoke(long lease) {
    return WriteOp.newBuilder().setLeaseRevoke(LeaseRevoke.newBuilder().setId(lease));
  }

  private static Request.Builder putRequest(String key, long lease) {
    return Request.newBuilder().setPut(Put.newBuilder().setKey(b(key)).setValue(b("v")).setLease(lease));
  }

  /** A txn whose compare on {@code app/none} holds, putting {@code key} with {@code lease} in the given branch. */
  private static Request.Builder txnPut(String key, long lease, boolean success) {
    var put = dev.kvraft.proto.Op.newBuilder().setPut(Put.newBuilder().setKey(b(key)).setValue(b("v"))
        .setLease(lease));
    var txn = Txn.newBuilder().addCompare(dev.kvraft.proto.Compare.newBuilder().setKey(b("app/none"))
        .setTarget(dev.kvraft.proto.Compare.Target.VERSION).setVersion(0));
    return Request.newBuilder().setTxn(success ? txn.addSuccess(put) : txn.addFailure(put));
  }

  private static Request.Builder revokeRequest(long lease) {
    return Request.newBuilder().setLeaseRevoke(LeaseRevoke.newBuilder().setId(lease));
  }

  private static Request.Builder timeToLive(long lease, boolean keys) {
    return Request.newBuilder().setLeaseTimeToLive(LeaseTimeToLive.newBuilder().setId(lease).setKeys(keys));
  }

  private static void ok(Response r) {
    assertFalse(r.hasError(), r.toString());
  }

  private static void denied(Response r, String... words) {
    assertNotNull(r, "no answer within 10 s");
    assertTrue(r.hasError(), "expected PERMISSION_DENIED, got " + r);
    assertEquals(Error.Code.PERMISSION_DENIED, r.getError().getCode(), r.toString());
    for (var w : words) {
      assertTrue(r.getError().getMessage().contains(w), "'" + w + "' missing: " + r.getError().getMessage());
    }
  }

  @Test
  void aRevokeOfALeaseHoldingAKeyItsUserMayNotWriteIsRefusedAndDeletesNothing() throws Exception {
    try (var node = new Node()) {
      node.commit("root", grant(5));
      node.commit("root", put("app/secret", 5));
      long revision = node.loop.revision();

      // ro may only read x/: refused where it arrives, so never proposed.
      denied(node.ask("ro", revokeRequest(5)), "'ro'", "lease 5", "key app/secret", "write");
      // Committed all the same (say it passed an older check elsewhere): refused when applied, on every node alike.
      node.commit("ro", revoke(5));
      assertEquals(revision, node.loop.revision(), "a refused revoke changes nothing");
      assertEquals("v", node.value("app/secret"));
      ok(node.ask("root", timeToLive(5, false)));
      // The list, and keep-alives, name no keys: any user (leases have no owner, as in etcd).
      assertEquals(1, node.ask("ro", Request.newBuilder().setLeaseList(LeaseList.getDefaultInstance()))
          .getLeaseList().getLeasesCount());
      var kept = node.ask("ro", Request.newBuilder().setLeaseKeepAlive(LeaseKeepAlive.newBuilder().setId(5)));
      ok(kept);
      assertEquals(5, kept.getLeaseKeepAlive().getId());

      // A lease's keys are checked when the revoke applies: one attached after the check where it arrived counts.
      node.commit("root", grant(6));
      node.commit("app", put("app/a", 6));
      node.send("app", revokeRequest(6));
      var proposal = node.proposed();
      node.commit("root", put("sec/b", 6));
      node.commit(proposal);
      denied(node.answers.poll(10, TimeUnit.SECONDS), "'app'", "lease 6", "key sec/b", "write");
      assertEquals("v", node.value("app/a"), "nothing of a refused revoke is deleted");
      assertEquals("v", node.value("sec/b"));
      // Root may revoke any lease.
      assertEquals(2, node.ask("root", revokeRequest(6)).getLeaseRevoke().getDeleted());
      assertNull(node.value("sec/b"));
    }
  }

  @Test
  void aUserWhoMayWriteEveryKeyOfALeaseMayRevokeItAndExpiryNeedsNoUser() throws Exception {
    try (var node = new Node()) {
      node.commit("root", grant(5));
      node.commit("root", put("app/a", 5));
      node.commit("app", put("app/b", 5));
      var revoked = node.ask("app", revokeRequest(5));
      ok(revoked);
      assertEquals(2, revoked.getLeaseRevoke().getDeleted());
      assertNull(node.value("app/a"));
      assertNull(node.value("app/b"));

      // An expiry is the leader's, not a user's: it deletes every key whoever attached it.
      node.commit("root", grant(6));
      node.commit("root", put("sec/c", 6));
      node.commit(AuthLayer.SYSTEM, WriteOp.newBuilder().setLeaseRevoke(LeaseRevoke.newBuilder().setId(6)
          .setExpired(true)));
      assertNull(node.value("sec/c"));
      assertEquals(Error.Code.LEASE_NOT_FOUND, node.ask("root", timeToLive(6, false)).getError().getCode());
    }
  }

  @Test
  void aTimeToLiveWithKeysNeedsReadOnEveryKeyOfTheLease() throws Exception {
    try (var node = new Node()) {
      node.commit("root", grant(5));
      node.commit("root", put("app/secret", 5));
      denied(node.ask("ro", timeToLive(5, true)), "'ro'", "lease 5", "key app/secret", "read");
      var ttl = node.ask("ro", timeToLive(5, false));
      ok(ttl);
      assertEquals(0, ttl.getLeaseTimeToLive().getKeysCount(), "without keys, no key is named");
      assertEquals(List.of(b("app/secret")), node.ask("app", timeToLive(5, true)).getLeaseTimeToLive()
          .getKeysList());
      assertEquals(List.of(b("app/secret")), node.ask("root", timeToLive(5, true)).getLeaseTimeToLive()
          .getKeysList());

      // The keys listed are the lease's when the read is answered (after its barrier), and those are checked.
      node.send("app", timeToLive(5, true));
      var barrier = node.raft.barriers.poll(10, TimeUnit.SECONDS);
      assertNotNull(barrier, "no read barrier within 10 s");
      node.commit("root", put("sec/b", 5));
      barrier.complete(null);
      denied(node.answers.poll(10, TimeUnit.SECONDS), "'app'", "lease 5", "key sec/b", "read");
    }
  }

  @Test
  void aPutMayNotAttachItsKeyToALeaseHoldingAKeyItsUserMayNotWrite() throws Exception {
    try (var node = new Node()) {
      node.commit("root", grant(5));
      node.commit("root", put("sec/x", 5));
      long revision = node.loop.revision();

      // app may write app/b, but lease 5 holds sec/x, which app may not write: attaching app/b to it would make
      // every revoke of lease 5 need write on app/b too. Refused where it arrives, in a txn's either branch too.
      denied(node.ask("app", putRequest("app/b", 5)), "'app'", "key app/b", "lease 5", "key sec/x", "write");
      denied(node.ask("app", txnPut("app/b", 5, true)), "'app'", "key app/b", "lease 5", "key sec/x");
      denied(node.ask("app", txnPut("app/b", 5, false)), "'app'", "key app/b", "lease 5", "key sec/x");
      // Committed all the same (say it passed an older check elsewhere): refused when applied, on every node alike.
      node.commit("app", put("app/b", 5));
      node.commit("app", WriteOp.newBuilder().setTxn(txnPut("app/b", 5, true).getTxn()));
      assertEquals(revision, node.loop.revision(), "a refused put changes nothing");
      assertNull(node.value("app/b"));
      assertEquals(List.of(b("sec/x")), node.ask("root", timeToLive(5, true)).getLeaseTimeToLive().getKeysList());

      // A lease's keys are checked when the put applies: one attached after the check where it arrived counts.
      node.commit("root", grant(6));
      ok(node.ask("app", putRequest("app/a", 6)));
      node.send("app", putRequest("app/c", 6));
      var proposal = node.proposed();
      node.commit("root", put("sec/y", 6));
      node.commit(proposal);
      denied(node.answers.poll(10, TimeUnit.SECONDS), "'app'", "key app/c", "lease 6", "key sec/y", "write");
      assertNull(node.value("app/c"));

      // A lease whose keys the user may all write takes more of them, and the user may revoke it; root attaches
      // anything anywhere.
      node.commit("root", grant(7));
      ok(node.ask("app", putRequest("app/d", 7)));
      ok(node.ask("app", txnPut("app/e", 7, true)));
      ok(node.ask("root", putRequest("app/f", 5)));
      assertEquals(2, node.ask("app", revokeRequest(7)).getLeaseRevoke().getDeleted());
    }
  }

  @Test
  void aWriteWithPrevKvNeedsReadOnWhatItReplaces() throws Exception {
    try (var node = new Node()) {
      ok(node.ask("root", Request.newBuilder().setPut(Put.newBuilder().setKey(b("w/k")).setValue(b("secret")))));
      long revision = node.loop.revision();

      // wo may write w/ but not read it: with prev_kv a put or delete would answer the value it replaces.
      var put = Put.newBuilder().setKey(b("w/k")).setValue(b("new")).setPrevKv(true);
      var delete = dev.kvraft.proto.Delete.newBuilder().setKey(b("w/k")).setPrevKv(true);
      var range = dev.kvraft.proto.Delete.newBuilder().setKey(b("w/")).setRangeEnd(b("w0")).setPrevKv(true);
      denied(node.ask("wo", Request.newBuilder().setPut(put)), "'wo'", "read key w/k", "prev_kv");
      denied(node.ask("wo", Request.newBuilder().setDelete(delete)), "'wo'", "read key w/k", "prev_kv");
      denied(node.ask("wo", Request.newBuilder().setDelete(range)), "'wo'", "read [w/, w0)", "prev_kv");
      for (var op : List.of(dev.kvraft.proto.Op.newBuilder().setPut(put), dev.kvraft.proto.Op.newBuilder()
          .setDelete(delete))) {
        denied(node.ask("wo", Request.newBuilder().setTxn(Txn.newBuilder().addSuccess(op))), "'wo'", "prev_kv");
      }
      // Committed all the same: refused when applied, and the value stays unseen and unchanged.
      node.commit("wo", WriteOp.newBuilder().setPut(put));
      node.commit("wo", WriteOp.newBuilder().setDelete(range));
      assertEquals(revision, node.loop.revision(), "a refused write changes nothing");
      assertEquals("secret", node.value("w/k"));

      // Without prev_kv wo writes as before; a user who may read gets the previous value.
      var plain = node.ask("wo", Request.newBuilder().setPut(put.clone().setPrevKv(false)));
      ok(plain);
      assertFalse(plain.getPut().hasPrev());
      ok(node.ask("root", Request.newBuilder().setPut(Put.newBuilder().setKey(b("app/k")).setValue(b("a")))));
      assertEquals("a", node.ask("app", Request.newBuilder().setPut(Put.newBuilder().setKey(b("app/k"))
          .setValue(b("b")).setPrevKv(true))).getPut().getPrev().getValue().toStringUtf8());
      ok(node.ask("wo", Request.newBuilder().setDelete(range.clone().setPrevKv(false))));
      assertNull(node.value("w/k"));
    }
  }
}
