package dev.kvraft.server.db;

import static org.junit.jupiter.api.Assertions.*;

import com.google.protobuf.ByteString;
import dev.kvraft.proto.AuthChange;
import dev.kvraft.proto.Error;
import dev.kvraft.proto.Permission;
import dev.kvraft.proto.Put;
import dev.kvraft.proto.WriteOp;
import dev.kvraft.server.auth.AuthState;
import org.junit.jupiter.api.Test;

/**
 * The auth layer around the apply step: a write is checked against the permissions in force when it applies, on
 * every node alike, whatever node it came through (a follower forwards the user with it).
 */
class AuthLayerTest {
  private final KvState state = new KvState();
  private final AuthState auth = new AuthState();
  private final OpApplier apply = OpApplier.of(state).wrap(new AuthLayer(auth)::around);

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
}
