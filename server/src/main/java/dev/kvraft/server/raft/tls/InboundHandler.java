package dev.kvraft.server.raft.tls;

import java.io.IOException;
import java.net.SocketAddress;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import org.apache.ratis.client.impl.ClientProtoUtils;
import org.apache.ratis.proto.RaftProtos.InstallSnapshotReplyProto;
import org.apache.ratis.proto.RaftProtos.InstallSnapshotRequestProto;
import org.apache.ratis.proto.RaftProtos.InstallSnapshotResult;
import org.apache.ratis.proto.netty.NettyProtos.RaftNettyServerReplyProto;
import org.apache.ratis.proto.netty.NettyProtos.RaftNettyServerRequestProto;
import org.apache.ratis.protocol.GroupInfoReply;
import org.apache.ratis.protocol.GroupListReply;
import org.apache.ratis.protocol.RaftClientReply;
import org.apache.ratis.protocol.RaftGroupId;
import org.apache.ratis.protocol.RaftPeerId;
import org.apache.ratis.server.RaftServer;
import org.apache.ratis.thirdparty.io.netty.channel.ChannelHandlerContext;
import org.apache.ratis.thirdparty.io.netty.channel.SimpleChannelInboundHandler;
import org.apache.ratis.thirdparty.io.netty.handler.ssl.SslHandler;
import org.apache.ratis.thirdparty.io.netty.handler.ssl.SslHandshakeCompletionEvent;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One inbound Raft channel after TLS. Authenticates the channel once (the client certificate,
 * already verified against the CA by the SslHandler, must name a member of one of this server's
 * groups), then checks every server-to-server request's requestor id against that identity, and
 * hands requests to the {@link RaftServer}. A refusal closes the channel with one WARN line naming
 * the remote address and the identity presented. After a configuration change, {@link #closeUnlessMember} closes the channel
 * if its identity is no member any more. State: {@code ctx}, {@code names} and {@code refused}, touched only on the
 * channel's event loop.
 */
final class InboundHandler extends SimpleChannelInboundHandler<RaftNettyServerRequestProto> {
  private static final Logger LOG = LoggerFactory.getLogger(InboundHandler.class);

  private final RaftServer server;
  private Set<String> names;
  private boolean refused;
  private ChannelHandlerContext ctx;

  /** The cluster setting's ids, for a node whose group is still empty (--join). */
  private final java.util.function.Supplier<Set<String>> bootstrap;

  InboundHandler(RaftServer server, java.util.function.Supplier<Set<String>> bootstrap) {
    this.bootstrap = bootstrap;
    this.server = server;
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    this.ctx = ctx;
  }

  @Override
  public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
    if (evt instanceof SslHandshakeCompletionEvent done) {
      if (done.isSuccess()) {
        authenticate(ctx);
      } else {
        refuse(ctx, "TLS handshake failed (" + done.cause().getMessage() + ")", Set.of());
      }
    }
    super.userEventTriggered(ctx, evt);
  }

  @Override
  protected void channelRead0(ChannelHandlerContext ctx, RaftNettyServerRequestProto request) {
    if (refused || (names == null && !authenticate(ctx))) {
      return;
    }
    var header = Frames.header(request);
    if (Frames.isPeerRequest(request)) {
      var claimed = RaftPeerId.valueOf(header.getRequestorId()).toString();
      if (!names.contains(claimed)) {
        refuse(ctx, "sent a " + request.getRaftNettyServerRequestCase() + " as peer " + claimed, names);
        return;
      }
    }
    CompletableFuture<RaftNettyServerReplyProto> reply;
    try {
      reply = handle(request);
    } catch (IOException e) {
      reply = CompletableFuture.completedFuture(Replies.exception(header, e));
    }
    reply.whenComplete((r, e) -> {
      if (e != null) {
        var cause = dev.kvraft.server.db.Failures.cause(e);
        r = Replies.exception(header, cause instanceof IOException io ? io : new IOException(cause));
      }
      ctx.writeAndFlush(r);
    });
  }

  private CompletableFuture<RaftNettyServerReplyProto> handle(RaftNettyServerRequestProto r) throws IOException {
    var out = RaftNettyServerReplyProto.newBuilder();
    return switch (r.getRaftNettyServerRequestCase()) {
      case REQUESTVOTEREQUEST -> done(out.setRequestVoteReply(server.requestVote(r.getRequestVoteRequest())));
      case STARTLEADERELECTIONREQUEST ->
          done(out.setStartLeaderElectionReply(server.startLeaderElection(r.getStartLeaderElectionRequest())));
      case INSTALLSNAPSHOTREQUEST -> done(out.setInstallSnapshotReply(installSnapshot(r.getInstallSnapshotRequest())));
      case APPENDENTRIESREQUEST -> server.appendEntriesAsync(r.getAppendEntriesRequest())
          .thenApply(a -> out.setAppendEntriesReply(a).build());
      case RAFTCLIENTREQUEST -> client(server.submitClientRequestAsync(
          ClientProtoUtils.toRaftClientRequest(r.getRaftClientRequest())));
      case SETCONFIGURATIONREQUEST -> client(server.setConfigurationAsync(
          ClientProtoUtils.toSetConfigurationRequest(r.getSetConfigurationRequest())));
      case GROUPMANAGEMENTREQUEST -> client(server.groupManagementAsync(
          ClientProtoUtils.toGroupManagementRequest(r.getGroupManagementRequest())));
      case TRANSFERLEADERSHIPREQUEST -> client(server.transferLeadershipAsync(
          ClientProtoUtils.toTransferLeadershipRequest(r.getTransferLeadershipRequest())));
      case SNAPSHOTMANAGEMENTREQUEST -> client(server.snapshotManagementAsync(
          ClientProtoUtils.toSnapshotManagementRequest(r.getSnapshotManagementRequest())));
      case LEADERELECTIONMANAGEMENTREQUEST -> client(server.leaderElectionManagementAsync(
          ClientProtoUtils.toLeaderElectionManagementRequest(r.getLeaderElectionManagementRequest())));
      case GROUPLISTREQUEST -> server.getGroupListAsync(ClientProtoUtils.toGroupListRequest(r.getGroupListRequest()))
          .thenApply((GroupListReply g) -> RaftNettyServerReplyProto.newBuilder()
              .setGroupListReply(ClientProtoUtils.toGroupListReplyProto(g)).build());
      case GROUPINFOREQUEST -> server.getGroupInfoAsync(ClientProtoUtils.toGroupInfoRequest(r.getGroupInfoRequest()))
          .thenApply((GroupInfoReply g) -> RaftNettyServerReplyProto.newBuilder()
              .setGroupInfoReply(ClientProtoUtils.toGroupInfoReplyProto(g)).build());
      case RAFTNETTYSERVERREQUEST_NOT_SET -> throw new IOException("empty Raft request");
    };
  }

  /**
   * Hands an InstallSnapshot request to Ratis, unless it comes from the leader of an older term: that one is answered
   * NOT_LEADER with this node's term (so the deposed leader steps down, as Ratis's own answer makes it) and never
   * reaches Ratis. Ratis 3.3.0 takes the configuration an InstallSnapshot request carries even from a request it
   * refuses as NOT_LEADER ({@code SnapshotInstallationHandler.installSnapshotImpl}), dropping its own configurations
   * from that index on first, and nothing but a later configuration entry, an install from the real leader or a
   * restart sets them back. A deposed leader's late chunk would so roll this node back to an older configuration,
   * which this transport would then trust (a member removed since) and refuse (one added since). Runs on the
   * channel's event loop; reads the division's term, an atomic read.
   */
  InstallSnapshotReplyProto installSnapshot(InstallSnapshotRequestProto request) throws IOException {
    var header = request.getServerRequest();
    var group = RaftGroupId.valueOf(header.getRaftGroupId().getId());
    long term = server.getDivision(group).getInfo().getCurrentTerm();
    if (request.getLeaderTerm() >= term) {
      return server.installSnapshot(request);
    }
    LOG.warn("refused an InstallSnapshot from {}, leader of term {}: this node is at term {}, so that leader is deposed"
        + " (answered NOT_LEADER; Ratis would have taken its configuration anyway)",
        RaftPeerId.valueOf(header.getRequestorId()), request.getLeaderTerm(), term);
    var reply = InstallSnapshotReplyProto.newBuilder()
        .setServerReply(ClientProtoUtils.toRaftRpcReplyProtoBuilder(header.getRequestorId(), header.getReplyId(),
            group, header.getCallId(), false))
        .setTerm(term)
        .setResult(InstallSnapshotResult.NOT_LEADER);
    if (request.hasSnapshotChunk()) {
      reply.setRequestIndex(request.getSnapshotChunk().getRequestIndex());
    }
    return reply.build();
  }

  private static CompletableFuture<RaftNettyServerReplyProto> done(RaftNettyServerReplyProto.Builder b) {
    return CompletableFuture.completedFuture(b.build());
  }

  private static CompletableFuture<RaftNettyServerReplyProto> client(CompletableFuture<RaftClientReply> f) {
    return f.thenApply(c -> RaftNettyServerReplyProto.newBuilder()
        .setRaftClientReply(ClientProtoUtils.toRaftClientReplyProto(c)).build());
  }

  /** Reads the peer's certificate names; refuses the channel unless one names a group member. */
  private boolean authenticate(ChannelHandlerContext ctx) {
    if (names != null || refused) {
      return names != null;
    }
    var presented = PeerIdentity.names(ctx.pipeline().get(SslHandler.class).engine().getSession());
    var members = members(server, bootstrap);
    if (presented.stream().noneMatch(members::contains)) {
      refuse(ctx, "its certificate names no member of this server's Raft groups " + members, presented);
      return false;
    }
    names = presented;
    return true;
  }

  /**
   * The ids that may hold a Raft channel to {@code server}: itself and the peers of its groups' current
   * configurations; while it has no configuration at all (started with --join), the cluster setting's ids.
   */
  static Set<String> members(RaftServer server, java.util.function.Supplier<Set<String>> bootstrap) {
    var ids = new HashSet<String>();
    ids.add(server.getId().toString());
    boolean configured = false;
    try {
      for (var g : server.getGroups()) {
        for (var p : g.getPeers()) {
          ids.add(p.getId().toString());
          configured = true;
        }
      }
    } catch (IOException e) {
      LOG.warn("cannot list the Raft groups of {} to authenticate a peer: {}", server.getId(), e.toString());
    }
    if (!configured) {
      // No configuration yet (started with --join): the members the cluster setting names may reach it. Not when the
      // configuration is this node alone: the others named in the cluster setting were removed.
      ids.addAll(bootstrap.get());
    }
    return ids;
  }

  /**
   * After a configuration change: closes this channel if its certificate names no member any more. Event loop only.
   */
  void closeUnlessMember(Set<String> members) {
    if (refused || names == null || ctx == null || names.stream().anyMatch(members::contains)) {
      return;
    }
    refused = true;
    LOG.warn("closed the Raft connection from {} presenting {}: no member of the Raft group {} any more (removed by a"
        + " configuration change); its new connections are refused", ctx.channel().remoteAddress(), names, members);
    ctx.close();
  }

  private void refuse(ChannelHandlerContext ctx, String why, Set<String> presented) {
    if (refused) {
      return;
    }
    refused = true;
    SocketAddress remote = ctx.channel().remoteAddress();
    LOG.warn("refused Raft connection from {} presenting {}: {}; check that node's TLS certificate and tls.ca.file",
        remote, presented.isEmpty() ? "no valid certificate" : presented, why);
    ctx.close();
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    if (!refused) {
      refuse(ctx, "connection error (" + cause.getMessage() + ")", names == null ? Set.of() : names);
    }
  }
}
