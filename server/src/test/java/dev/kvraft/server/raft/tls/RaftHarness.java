package dev.kvraft.server.raft.tls;

import dev.kvraft.testkit.FreePorts;
import java.io.Closeable;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import org.apache.ratis.RaftConfigKeys;
import org.apache.ratis.client.RaftClient;
import org.apache.ratis.client.RaftClientConfigKeys;
import org.apache.ratis.conf.Parameters;
import org.apache.ratis.conf.RaftProperties;
import org.apache.ratis.netty.NettyConfigKeys;
import org.apache.ratis.protocol.Message;
import org.apache.ratis.protocol.RaftGroup;
import org.apache.ratis.protocol.RaftGroupId;
import org.apache.ratis.protocol.RaftPeer;
import org.apache.ratis.protocol.RaftPeerId;
import org.apache.ratis.retry.RetryPolicies;
import org.apache.ratis.rpc.SupportedRpcType;
import org.apache.ratis.server.RaftServer;
import org.apache.ratis.server.RaftServerConfigKeys;
import org.apache.ratis.server.storage.RaftStorage;
import org.apache.ratis.statemachine.TransactionContext;
import org.apache.ratis.statemachine.impl.BaseStateMachine;
import org.apache.ratis.util.TimeDuration;

/** A three-peer Ratis group n1..n3 on 127.0.0.1 over TLS (or plain NETTY), with counter state machines. */
final class RaftHarness implements Closeable {
  /** Counts applied entries; tells its TLS transport of each applied configuration, as KvStateMachine does. */
  static final class Counter extends BaseStateMachine {
    final AtomicLong applied = new AtomicLong();
    private final TlsNettyTransport tls;

    Counter(TlsNettyTransport tls) {
      this.tls = tls;
    }

    @Override
    public void notifyConfigurationChanged(long term, long index,
        org.apache.ratis.proto.RaftProtos.RaftConfigurationProto conf) {
      if (tls != null) {
        tls.membershipChanged();
      }
    }

    @Override
    public CompletableFuture<Message> applyTransaction(TransactionContext trx) {
      var e = trx.getLogEntry();
      updateLastAppliedTermIndex(e.getTerm(), e.getIndex());
      return CompletableFuture.completedFuture(Message.valueOf(Long.toString(applied.incrementAndGet())));
    }
  }

  final RaftGroup group;
  final List<RaftServer> servers = new ArrayList<>();
  final List<Counter> counters = new ArrayList<>();
  private final List<Closeable> closeables = new ArrayList<>();

  RaftHarness() {
    var ports = FreePorts.take(3);
    var peers = new ArrayList<RaftPeer>();
    for (int i = 0; i < 3; i++) {
      peers.add(RaftPeer.newBuilder().setId("n" + (i + 1)).setAddress("127.0.0.1:" + ports.get(i)).build());
    }
    group = RaftGroup.valueOf(RaftGroupId.valueOf(UUID.randomUUID()), peers);
  }

  RaftPeer peer(int i) {
    return group.getPeers().stream().filter(p -> p.getId().toString().equals("n" + i)).findFirst().orElseThrow();
  }

  /** Starts node n{@code i} with {@code tls} (null: plain NETTY) and its own id {@code id}. */
  Counter start(int i, TlsNettyTransport tls, Path dir) throws IOException {
    var p = new RaftProperties();
    RaftServerConfigKeys.setStorageDir(p, List.of(dir.resolve("n" + i + "-" + servers.size()).toFile()));
    var port = Integer.parseInt(peer(i).getAddress().substring(peer(i).getAddress().lastIndexOf(':') + 1));
    NettyConfigKeys.Server.setHost(p, "127.0.0.1");
    NettyConfigKeys.Server.setPort(p, port);
    RaftServerConfigKeys.Rpc.setTimeoutMin(p, TimeDuration.valueOf(300, java.util.concurrent.TimeUnit.MILLISECONDS));
    RaftServerConfigKeys.Rpc.setTimeoutMax(p, TimeDuration.valueOf(600, java.util.concurrent.TimeUnit.MILLISECONDS));
    RaftClientConfigKeys.Rpc.setRequestTimeout(p, TimeDuration.valueOf(2, java.util.concurrent.TimeUnit.SECONDS));
    var params = transport(tls, p);
    var counter = new Counter(tls);
    var server = RaftServer.newBuilder().setServerId(RaftPeerId.valueOf("n" + i)).setGroup(group)
        .setProperties(p).setParameters(params).setStateMachine(counter)
        .setOption(RaftStorage.StartupOption.FORMAT).build();
    closeables.add(server);
    server.start();
    servers.add(server);
    counters.add(counter);
    return counter;
  }

  /** A client with few retries; {@code tls} null means plain NETTY. */
  RaftClient client(TlsNettyTransport tls, int retries) {
    var p = new RaftProperties();
    RaftClientConfigKeys.Rpc.setRequestTimeout(p, TimeDuration.valueOf(2, java.util.concurrent.TimeUnit.SECONDS));
    var params = transport(tls, p);
    var c = RaftClient.newBuilder().setRaftGroup(group).setProperties(p).setParameters(params)
        .setRetryPolicy(RetryPolicies.retryUpToMaximumCountWithFixedSleep(retries,
            TimeDuration.valueOf(200, java.util.concurrent.TimeUnit.MILLISECONDS)))
        .build();
    closeables.add(c);
    return c;
  }

  static void await(String what, Duration timeout, BooleanSupplier condition) throws Exception {
    dev.kvraft.server.testing.Await.until(what, timeout, condition::getAsBoolean);
  }

  @Override
  public void close() {
    for (int i = closeables.size() - 1; i >= 0; i--) {
      try {
        closeables.get(i).close();
      } catch (IOException | RuntimeException e) {
        System.err.println("closing " + closeables.get(i) + " failed: " + e);
      }
    }
  }

  /** Selects plain NETTY ({@code tls} null) or the TLS transport in {@code p}; the parameters it needs. */
  private static Parameters transport(TlsNettyTransport tls, RaftProperties p) {
    var params = new Parameters();
    if (tls == null) {
      RaftConfigKeys.Rpc.setType(p, SupportedRpcType.NETTY);
    } else {
      tls.applyTo(p, params);
    }
    return params;
  }
}
