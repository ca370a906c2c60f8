package dev.kvraft.server.raft.tls;

import org.apache.ratis.client.ClientFactory;
import org.apache.ratis.client.RaftClientRpc;
import org.apache.ratis.conf.RaftProperties;
import org.apache.ratis.protocol.ClientId;
import org.apache.ratis.rpc.RpcType;
import org.apache.ratis.server.RaftServer;
import org.apache.ratis.server.RaftServerRpc;
import org.apache.ratis.server.ServerFactory;

/** Makes the TLS server and client RPCs of one transport. Immutable. */
final class TlsNettyFactory implements ServerFactory, ClientFactory {
  private final TlsNettyTransport transport;

  TlsNettyFactory(TlsNettyTransport transport) {
    this.transport = transport;
  }

  @Override
  public RpcType getRpcType() {
    return new TlsNettyRpcType();
  }

  @Override
  public RaftServerRpc newRaftServerRpc(RaftServer server) {
    return new TlsServerRpc(server, transport);
  }

  @Override
  public RaftClientRpc newRaftClientRpc(ClientId clientId, RaftProperties properties) {
    return new TlsClientRpc(clientId, properties, transport);
  }
}
