package dev.kvraft.server.raft.tls;

import org.apache.ratis.proto.RaftProtos.RaftRpcRequestProto;
import org.apache.ratis.proto.netty.NettyProtos.RaftNettyServerRequestProto;
import org.apache.ratis.thirdparty.com.google.protobuf.MessageLite;
import org.apache.ratis.thirdparty.io.netty.channel.ChannelPipeline;
import org.apache.ratis.thirdparty.io.netty.handler.codec.protobuf.ProtobufDecoder;
import org.apache.ratis.thirdparty.io.netty.handler.codec.protobuf.ProtobufEncoder;
import org.apache.ratis.thirdparty.io.netty.handler.codec.protobuf.ProtobufVarint32LengthFieldPrepender;

/** The framing after TLS (varint-length-prefixed Ratis Netty protos) and request accessors. */
final class Frames {
  private Frames() {}

  /**
   * Largest frame either side accepts: an AppendEntries batch is bounded by Ratis's appender
   * buffer and an InstallSnapshot chunk by its chunk size, both far below this with kvraft's
   * settings; a client reply carries at most one read result.
   */
  static final int MAX_FRAME_BYTES = 64 << 20;

  static void addCodec(ChannelPipeline p, MessageLite inbound) {
    p.addLast("frameDecoder", new BoundedVarintFrameDecoder(MAX_FRAME_BYTES));
    p.addLast("protoDecoder", new ProtobufDecoder(inbound));
    p.addLast("framePrepender", new ProtobufVarint32LengthFieldPrepender());
    p.addLast("protoEncoder", new ProtobufEncoder());
  }

  /** The common RPC header of a request, whichever kind it is. */
  static RaftRpcRequestProto header(RaftNettyServerRequestProto r) {
    return switch (r.getRaftNettyServerRequestCase()) {
      case REQUESTVOTEREQUEST -> r.getRequestVoteRequest().getServerRequest();
      case APPENDENTRIESREQUEST -> r.getAppendEntriesRequest().getServerRequest();
      case INSTALLSNAPSHOTREQUEST -> r.getInstallSnapshotRequest().getServerRequest();
      case STARTLEADERELECTIONREQUEST -> r.getStartLeaderElectionRequest().getServerRequest();
      case RAFTCLIENTREQUEST -> r.getRaftClientRequest().getRpcRequest();
      case SETCONFIGURATIONREQUEST -> r.getSetConfigurationRequest().getRpcRequest();
      case GROUPMANAGEMENTREQUEST -> r.getGroupManagementRequest().getRpcRequest();
      case GROUPLISTREQUEST -> r.getGroupListRequest().getRpcRequest();
      case GROUPINFOREQUEST -> r.getGroupInfoRequest().getRpcRequest();
      case TRANSFERLEADERSHIPREQUEST -> r.getTransferLeadershipRequest().getRpcRequest();
      case SNAPSHOTMANAGEMENTREQUEST -> r.getSnapshotManagementRequest().getRpcRequest();
      case LEADERELECTIONMANAGEMENTREQUEST -> r.getLeaderElectionManagementRequest().getRpcRequest();
      case RAFTNETTYSERVERREQUEST_NOT_SET -> RaftRpcRequestProto.getDefaultInstance();
    };
  }

  /** Server-to-server requests: their requestor id must be the channel's authenticated node id. */
  static boolean isPeerRequest(RaftNettyServerRequestProto r) {
    return switch (r.getRaftNettyServerRequestCase()) {
      case REQUESTVOTEREQUEST, APPENDENTRIESREQUEST, INSTALLSNAPSHOTREQUEST, STARTLEADERELECTIONREQUEST -> true;
      default -> false;
    };
  }
}
