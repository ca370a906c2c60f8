package dev.kvraft.server.db;

import static org.junit.jupiter.api.Assertions.*;

import dev.kvraft.proto.CommandKind;
import dev.kvraft.proto.Request;
import java.util.Arrays;
import java.util.EnumSet;
import org.junit.jupiter.api.Test;

class CommandKindTest {
  @Test
  void exactlyPutDeleteTxnAndAuthChangeWriteAndNeitherWritesNorSnapshotsAreRetriedBlindly() {
    var writes = EnumSet.noneOf(Request.CommandCase.class);
    for (var c : Request.CommandCase.values()) {
      var kind = CommandKind.of(c);
      if (kind == CommandKind.WRITE) {
        writes.add(c);
      }
      assertEquals(kind == CommandKind.READ || kind == CommandKind.READ_INDEX || kind == CommandKind.INFO
          || kind == CommandKind.MEMBER_HELLO || kind == CommandKind.BACKUP_CHUNK || kind == CommandKind.AUTHENTICATE
          || kind == CommandKind.AUTH_READ || kind == CommandKind.ALARM_LIST || kind == CommandKind.CANCEL_WATCH
          || kind == CommandKind.LEASE_KEEP_ALIVE || kind == CommandKind.LEASE_READ,
          kind.safeToRetry(), c.name());
    }
    assertEquals(EnumSet.of(Request.CommandCase.PUT, Request.CommandCase.DELETE, Request.CommandCase.TXN,
        Request.CommandCase.AUTH_CHANGE, Request.CommandCase.ALARM, Request.CommandCase.COMPACT,
        Request.CommandCase.LEASE_GRANT, Request.CommandCase.LEASE_REVOKE), writes);
    assertFalse(CommandKind.of(Request.CommandCase.SNAPSHOT).safeToRetry());
    assertFalse(CommandKind.of(Request.CommandCase.BACKUP).safeToRetry(), "each Backup makes a copy on the node");
    assertFalse(CommandKind.of(Request.CommandCase.WATCH).safeToRetry(), "a Watch sent twice opens two streams");
    assertTrue(Arrays.stream(Request.CommandCase.values()).allMatch(c -> CommandKind.of(c) != null));
  }

  /** What a follower forwards and a client sends to the leader: the writes and the lease keep-alives, nothing else. */
  @Test
  void theLeadersWorkIsTheWritesAndTheKeepAlives() {
    var leaderWork = EnumSet.noneOf(Request.CommandCase.class);
    for (var c : Request.CommandCase.values()) {
      if (CommandKind.of(c).leaderWork()) {
        leaderWork.add(c);
      }
    }
    assertEquals(EnumSet.of(Request.CommandCase.PUT, Request.CommandCase.DELETE, Request.CommandCase.TXN,
        Request.CommandCase.AUTH_CHANGE, Request.CommandCase.ALARM, Request.CommandCase.COMPACT,
        Request.CommandCase.LEASE_GRANT, Request.CommandCase.LEASE_REVOKE, Request.CommandCase.LEASE_KEEP_ALIVE),
        leaderWork);
    var list = dev.kvraft.proto.Alarm.newBuilder().setAction(dev.kvraft.proto.Alarm.Action.LIST);
    assertFalse(CommandKind.of(Request.newBuilder().setAlarm(list)).leaderWork(), "listing alarms is a read");
    assertTrue(CommandKind.of(Request.newBuilder().setAlarm(list.setAction(dev.kvraft.proto.Alarm.Action.DISARM)))
        .leaderWork());
  }
}
