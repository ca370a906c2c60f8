package dev.kvraft.server.raft.tls;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.apache.ratis.proto.RaftProtos.InstallSnapshotReplyProto;
import org.apache.ratis.proto.RaftProtos.InstallSnapshotRequestProto;
import org.apache.ratis.proto.RaftProtos.InstallSnapshotResult;
import org.apache.ratis.proto.RaftProtos.RaftRpcRequestProto;
import org.apache.ratis.protocol.RaftGroupId;
import org.apache.ratis.protocol.RaftPeerId;
import org.apache.ratis.server.DivisionInfo;
import org.apache.ratis.server.RaftServer;
import org.junit.jupiter.api.Test;

/**
 * A deposed leader's InstallSnapshot must not reach Ratis 3.3.0, which takes the configuration it carries even when it
 * answers NOT_LEADER (and so could roll this node back to an older configuration, whose members the TLS transport
 * would then trust and refuse).
 */
class InboundHandlerTest {
  private static final long TERM = 5;
  private static final RaftGroupId GROUP = RaftGroupId.randomId();

  /** The requests that reached Ratis's installSnapshot. */
  private final List<InstallSnapshotRequestProto> reachedRatis = new ArrayList<>();
  private final InstallSnapshotReplyProto ratisReply = InstallSnapshotReplyProto.newBuilder()
      .setResult(InstallSnapshotResult.SUCCESS).setTerm(TERM).build();
  private final InboundHandler handler = new InboundHandler(server(), Set::of);

  @Test
  void aChunkFromTheLeaderOfAnOlderTermIsAnsweredNotLeaderWithoutReachingRatis() throws Exception {
    var request = request(TERM - 1, 77, 3);

    var reply = handler.installSnapshot(request);

    assertEquals(List.of(), reachedRatis, "a deposed leader's chunk reached Ratis");
    assertEquals(InstallSnapshotResult.NOT_LEADER, reply.getResult());
    assertEquals(TERM, reply.getTerm(), "the deposed leader learns the newer term, and steps down");
    assertFalse(reply.getServerReply().getSuccess());
    assertEquals(77, reply.getServerReply().getCallId(), "the leader matches the answer to its call by this id");
    assertEquals(3, reply.getRequestIndex());
    assertEquals(request.getServerRequest().getRequestorId(), reply.getServerReply().getRequestorId());
    assertEquals(GROUP, RaftGroupId.valueOf(reply.getServerReply().getRaftGroupId().getId()));
  }

  @Test
  void aChunkFromTheLeaderOfThisTermOrANewerOneGoesToRatis() throws Exception {
    var current = request(TERM, 1, 0);
    var newer = request(TERM + 1, 2, 0);

    assertSame(ratisReply, handler.installSnapshot(current));
    assertSame(ratisReply, handler.installSnapshot(newer));
    assertEquals(List.of(current, newer), reachedRatis);
  }

  private static InstallSnapshotRequestProto request(long leaderTerm, long callId, int requestIndex) {
    return InstallSnapshotRequestProto.newBuilder()
        .setServerRequest(RaftRpcRequestProto.newBuilder()
            .setRequestorId(RaftPeerId.valueOf("n1").toByteString())
            .setReplyId(RaftPeerId.valueOf("n2").toByteString())
            .setRaftGroupId(org.apache.ratis.util.ProtoUtils.toRaftGroupIdProtoBuilder(GROUP))
            .setCallId(callId))
        .setLeaderTerm(leaderTerm)
        .setSnapshotChunk(InstallSnapshotRequestProto.SnapshotChunkProto.newBuilder().setRequestIndex(requestIndex))
        .build();
  }

  /** A RaftServer whose one division is at {@link #TERM}; records installSnapshot calls; nothing else is asked. */
  private RaftServer server() {
    DivisionInfo info = proxy(DivisionInfo.class, (name, args) -> switch (name) {
      case "getCurrentTerm" -> TERM;
      default -> throw new UnsupportedOperationException(name);
    });
    RaftServer.Division division = proxy(RaftServer.Division.class, (name, args) -> switch (name) {
      case "getInfo" -> info;
      default -> throw new UnsupportedOperationException(name);
    });
    return proxy(RaftServer.class, (name, args) -> switch (name) {
      case "getDivision" -> {
        assertEquals(GROUP, args[0]);
        yield division;
      }
      case "installSnapshot" -> {
        reachedRatis.add((InstallSnapshotRequestProto) args[0]);
        yield ratisReply;
      }
      default -> throw new UnsupportedOperationException(name);
    });
  }

  private interface Answer {
    Object answer(String method, Object[] args);
  }

  private static <T> T proxy(Class<T> type, Answer answer) {
    return type.cast(Proxy.newProxyInstance(InboundHandlerTest.class.getClassLoader(), new Class<?>[] {type},
        (p, method, args) -> answer.answer(method.getName(), args)));
  }
}
