package dev.kvraft.server.raft.tls;

import java.io.IOException;
import org.apache.ratis.client.impl.ClientProtoUtils;
import org.apache.ratis.proto.RaftProtos.RaftRpcRequestProto;
import org.apache.ratis.proto.netty.NettyProtos.RaftNettyExceptionReplyProto;
import org.apache.ratis.proto.netty.NettyProtos.RaftNettyServerReplyProto;
import org.apache.ratis.protocol.RaftGroupId;
import org.apache.ratis.util.ProtoUtils;

/** Exception replies in the Ratis Netty wire format, both directions. */
final class Replies {
  private Replies() {}

  static RaftNettyServerReplyProto exception(RaftRpcRequestProto request, IOException e) {
    var rpc = ClientProtoUtils.toRaftRpcReplyProtoBuilder(request.getRequestorId(), request.getReplyId(),
        RaftGroupId.valueOf(request.getRaftGroupId().getId()), request.getCallId(), false);
    return RaftNettyServerReplyProto.newBuilder().setExceptionReply(RaftNettyExceptionReplyProto.newBuilder()
        .setRpcReply(rpc).setException(ProtoUtils.writeObject2ByteString(e))).build();
  }

  static void throwIfException(RaftNettyServerReplyProto reply) throws IOException {
    if (reply.getRaftNettyServerReplyCase() != RaftNettyServerReplyProto.RaftNettyServerReplyCase.EXCEPTIONREPLY) {
      return;
    }
    Object e;
    try {
      e = ProtoUtils.toObject(reply.getExceptionReply().getException());
    } catch (RuntimeException bad) {
      throw new IOException("Raft peer sent an unreadable exception reply", bad);
    }
    throw e instanceof IOException io ? io : new IOException("Raft peer failed: " + e);
  }
}
