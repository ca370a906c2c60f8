package dev.kvraft.server.db;

import static dev.kvraft.server.testing.Requests.b;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.kvraft.proto.LogEntry;
import dev.kvraft.proto.WriteOp;
import dev.kvraft.server.testing.Requests;
import org.junit.jupiter.api.Test;

/**
 * What {@code kvraft.db} keeps of an entry's bytes ({@code raft_log.payload}): nothing where the op rows say it all
 * (storing every value a second time cost about a sixth of the servers' CPU per put), the bytes wherever the rows
 * would lose something an operator may need, and never a secret.
 */
class MirroredPayloadTest {
  private static WriteOp put(String key, String value) {
    return WriteOp.newBuilder().setPut(Requests.put(1, key, value).getPut()).build();
  }

  private static LogEntry entry(WriteOp... ops) {
    return LogEntry.newBuilder().setProposer("n1@x").setProposalId(7).addAllOps(java.util.List.of(ops)).build();
  }

  private static ByteString mirrored(LogEntry e) {
    return Applier.mirroredPayload(e, e.toByteString());
  }

  @Test
  void plainPutsAndSingleKeyDeletesKeepNoBytesTheirRowsHoldEverything() {
    assertEquals(ByteString.EMPTY, mirrored(entry(put("a", "1"), put("b", "2"),
        WriteOp.newBuilder().setDelete(Requests.delete(1, "a", "").getDelete()).build())));
    assertEquals(ByteString.EMPTY, mirrored(entry()), "a read barrier's empty entry");
  }

  @Test
  void entriesTheRowsDoNotFullyDescribeKeepTheirBytes() {
    var withLease = WriteOp.newBuilder().setPut(Requests.put(1, "a", "1").getPut().toBuilder().setLease(9)).build();
    var rangeDelete = WriteOp.newBuilder().setDelete(Requests.delete(1, "a", "z").getDelete()).build();
    var txn = WriteOp.newBuilder().setTxn(dev.kvraft.proto.Txn.newBuilder()
        .addSuccess(dev.kvraft.proto.Op.newBuilder().setPut(Requests.put(1, "a", "1").getPut()))).build();
    var asUser = put("a", "1").toBuilder().setUser("alice").build();
    var lease = WriteOp.newBuilder().setLeaseGrant(dev.kvraft.proto.LeaseGrant.newBuilder().setId(9)
        .setTtlSeconds(30)).build();
    for (var op : java.util.List.of(withLease, rangeDelete, txn, asUser, lease)) {
      var e = entry(put("b", "2"), op);
      assertEquals(e.toByteString(), mirrored(e), op.toString());
    }
  }

  @Test
  void secretsNeverReachTheFileEvenWhereTheBytesAreKept() throws Exception {
    var token = entry().toBuilder().setMemberToken(b("secret-token")).build();
    var kept = LogEntry.parseFrom(mirrored(token));
    assertTrue(kept.getMemberToken().isEmpty(), "the member token is stripped");
    assertEquals("n1@x", kept.getProposer(), "the rest is kept");

    var user = WriteOp.newBuilder().setAuth(dev.kvraft.proto.AuthChange.newBuilder()
        .setAction(dev.kvraft.proto.AuthChange.Action.USER_ADD).setName("alice")
        .setPasswordHash("hash")).build();
    var keptUser = LogEntry.parseFrom(mirrored(entry(user)));
    assertEquals("alice", keptUser.getOps(0).getAuth().getName());
    assertTrue(keptUser.getOps(0).getAuth().getPasswordHash().isEmpty(), "the password's hash is stripped");
  }
}
