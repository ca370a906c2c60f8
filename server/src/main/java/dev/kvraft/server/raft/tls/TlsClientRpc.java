package dev.kvraft.server.raft.tls;

import java.io.IOException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.ratis.client.RaftClientConfigKeys;
import org.apache.ratis.client.impl.ClientProtoUtils;
import org.apache.ratis.client.impl.RaftClientRpcWithProxy;
import org.apache.ratis.conf.RaftProperties;
import org.apache.ratis.proto.netty.NettyProtos.RaftNettyServerReplyProto;
import org.apache.ratis.proto.netty.NettyProtos.RaftNettyServerRequestProto;
import org.apache.ratis.protocol.ClientId;
import org.apache.ratis.protocol.GroupInfoRequest;
import org.apache.ratis.protocol.GroupListRequest;
import org.apache.ratis.protocol.GroupManagementRequest;
import org.apache.ratis.protocol.LeaderElectionManagementRequest;
import org.apache.ratis.protocol.RaftClientReply;
import org.apache.ratis.protocol.RaftClientRequest;
import org.apache.ratis.protocol.SetConfigurationRequest;
import org.apache.ratis.protocol.SnapshotManagementRequest;
import org.apache.ratis.protocol.TransferLeadershipRequest;
import org.apache.ratis.thirdparty.io.netty.channel.EventLoopGroup;
import org.apache.ratis.thirdparty.io.netty.channel.nio.NioEventLoopGroup;
import org.apache.ratis.thirdparty.io.netty.util.concurrent.DefaultThreadFactory;
import org.apache.ratis.util.PeerProxyMap;

/**
 * A RaftClient's RPC over the TLS transport: it presents this node's certificate and checks that
 * each server's certificate names the peer it dials. Owner of its event-loop group.
 */
final class TlsClientRpc extends RaftClientRpcWithProxy<TlsPeerProxy> {
  private final EventLoopGroup group;
  private final long timeoutMillis;

  TlsClientRpc(ClientId clientId, RaftProperties properties, TlsNettyTransport transport) {
    this(clientId, transport, RaftClientConfigKeys.Rpc.requestTimeout(properties),
        new NioEventLoopGroup(2, new DefaultThreadFactory(clientId + "-raft-tls-client", true)));
  }

  private TlsClientRpc(ClientId clientId, TlsNettyTransport transport,
      org.apache.ratis.util.TimeDuration timeout, EventLoopGroup group) {
    super(new PeerProxyMap<>(clientId.toString(), peer -> new TlsPeerProxy(peer, transport, group, timeout)));
    this.group = group;
    this.timeoutMillis = timeout.toLong(TimeUnit.MILLISECONDS);
  }

  @Override
  public CompletableFuture<RaftClientReply> sendRequestAsync(RaftClientRequest request) {
    try {
      var proxy = TlsPeerProxy.live(getProxies(), request.getServerId());
      return proxy.sendAsync(toProto(request)).thenApply(TlsClientRpc::toReply);
    } catch (IOException e) {
      return CompletableFuture.failedFuture(e);
    }
  }

  @Override
  public RaftClientReply sendRequest(RaftClientRequest request) throws IOException {
    try {
      return sendRequestAsync(request).get(timeoutMillis * 2, TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted waiting for " + request.getServerId(), e);
    } catch (ExecutionException e) {
      var c = dev.kvraft.server.db.Failures.cause(e.getCause());
      throw c instanceof IOException io ? io : new IOException(c);
    } catch (java.util.concurrent.TimeoutException e) {
      throw new IOException("no reply from Raft server " + request.getServerId() + " in " + 2 * timeoutMillis + " ms", e);
    }
  }

  @Override
  public void close() {
    super.close();
    group.shutdownGracefully(0, 2, TimeUnit.SECONDS);
  }

  private static RaftNettyServerRequestProto toProto(RaftClientRequest r) {
    var b = RaftNettyServerRequestProto.newBuilder();
    if (r instanceof GroupListRequest g) {
      b.setGroupListRequest(ClientProtoUtils.toGroupListRequestProto(g));
    } else if (r instanceof GroupInfoRequest g) {
      b.setGroupInfoRequest(ClientProtoUtils.toGroupInfoRequestProto(g));
    } else if (r instanceof GroupManagementRequest g) {
      b.setGroupManagementRequest(ClientProtoUtils.toGroupManagementRequestProto(g));
    } else if (r instanceof SetConfigurationRequest s) {
      b.setSetConfigurationRequest(ClientProtoUtils.toSetConfigurationRequestProto(s));
    } else if (r instanceof TransferLeadershipRequest t) {
      b.setTransferLeadershipRequest(ClientProtoUtils.toTransferLeadershipRequestProto(t));
    } else if (r instanceof SnapshotManagementRequest s) {
      b.setSnapshotManagementRequest(ClientProtoUtils.toSnapshotManagementRequestProto(s));
    } else if (r instanceof LeaderElectionManagementRequest l) {
      b.setLeaderElectionManagementRequest(ClientProtoUtils.toLeaderElectionManagementRequestProto(l));
    } else {
      b.setRaftClientRequest(ClientProtoUtils.toRaftClientRequestProto(r));
    }
    return b.build();
  }

  private static RaftClientReply toReply(RaftNettyServerReplyProto reply) {
    try {
      Replies.throwIfException(reply);
    } catch (IOException e) {
      throw new CompletionException(e);
    }
    return switch (reply.getRaftNettyServerReplyCase()) {
      case RAFTCLIENTREPLY -> ClientProtoUtils.toRaftClientReply(reply.getRaftClientReply());
      case GROUPLISTREPLY -> ClientProtoUtils.toGroupListReply(reply.getGroupListReply());
      case GROUPINFOREPLY -> ClientProtoUtils.toGroupInfoReply(reply.getGroupInfoReply());
      default -> throw new CompletionException(
          new IOException("unexpected Raft reply " + reply.getRaftNettyServerReplyCase()));
    };
  }
}
