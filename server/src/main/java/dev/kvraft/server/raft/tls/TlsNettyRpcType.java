package dev.kvraft.server.raft.tls;

import org.apache.ratis.conf.Parameters;
import org.apache.ratis.rpc.RpcFactory;
import org.apache.ratis.rpc.RpcType;

/** The {@link RpcType} Ratis loads by class name from {@code raft.rpc.type}. Stateless. */
public final class TlsNettyRpcType implements RpcType {
  public TlsNettyRpcType() {}

  @Override
  public String name() {
    return TlsNettyRpcType.class.getName();
  }

  @Override
  public RpcFactory newFactory(Parameters parameters) {
    return new TlsNettyFactory(TlsNettyTransport.from(parameters));
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof TlsNettyRpcType;
  }

  @Override
  public int hashCode() {
    return name().hashCode();
  }

  @Override
  public String toString() {
    return "kvraft-tls-netty";
  }
}
