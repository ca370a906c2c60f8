package dev.kvraft.server.raft.tls;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;
import org.apache.ratis.client.RaftClientConfigKeys;
import org.apache.ratis.netty.NettyConfigKeys;
import org.apache.ratis.proto.RaftProtos.AppendEntriesReplyProto;
import org.apache.ratis.proto.RaftProtos.AppendEntriesRequestProto;
import org.apache.ratis.proto.RaftProtos.InstallSnapshotReplyProto;
import org.apache.ratis.proto.RaftProtos.InstallSnapshotRequestProto;
import org.apache.ratis.proto.RaftProtos.RequestVoteReplyProto;
import org.apache.ratis.proto.RaftProtos.RequestVoteRequestProto;
import org.apache.ratis.proto.RaftProtos.StartLeaderElectionReplyProto;
import org.apache.ratis.proto.RaftProtos.StartLeaderElectionRequestProto;
import org.apache.ratis.proto.netty.NettyProtos.RaftNettyServerReplyProto;
import org.apache.ratis.proto.netty.NettyProtos.RaftNettyServerRequestProto;
import org.apache.ratis.protocol.RaftPeerId;
import org.apache.ratis.rpc.RpcType;
import org.apache.ratis.server.RaftServer;
import org.apache.ratis.server.RaftServerRpcWithProxy;
import org.apache.ratis.thirdparty.io.netty.bootstrap.ServerBootstrap;
import org.apache.ratis.thirdparty.io.netty.channel.Channel;
import org.apache.ratis.thirdparty.io.netty.channel.ChannelInitializer;
import org.apache.ratis.thirdparty.io.netty.channel.EventLoopGroup;
import org.apache.ratis.thirdparty.io.netty.channel.nio.NioEventLoopGroup;
import org.apache.ratis.thirdparty.io.netty.channel.socket.SocketChannel;
import org.apache.ratis.thirdparty.io.netty.channel.socket.nio.NioServerSocketChannel;
import org.apache.ratis.thirdparty.io.netty.util.concurrent.DefaultThreadFactory;
import org.apache.ratis.util.PeerProxyMap;
import org.apache.ratis.util.TimeDuration;

/**
 * The server side of the TLS transport: listens on {@code raft.netty.server.host/port} with mutual
 * TLS ({@link InboundHandler} authenticates each channel) and sends this server's requests to
 * other peers over {@link TlsPeerProxy} connections. Owner of its three event-loop groups
 * (accept, server I/O, outgoing peer I/O), which {@link #closeImpl()} shuts down, and of two concurrent sets it keeps
 * for {@link #closeNonMembers()}: {@code incoming} (accepted channels, each removed when it closes) and
 * {@code outgoing} (the proxies its map made, pruned of closed ones whenever it makes one and at each membership
 * change).
 *
 * <p>The port has at most {@value #MAX_HANDSHAKING} connections in their TLS handshake at a time,
 * {@value #MAX_HANDSHAKING_PER_ADDRESS} from one address (an IPv6 one's /64): before its handshake a connection is
 * anyone's, holding a descriptor the Raft log and SQLite need, for up to the handshake's timeout. Past either, a new
 * connection is closed at once (logged at most once a minute); a handshake takes at most
 * {@value #HANDSHAKE_TIMEOUT_MILLIS} ms. A connection whose handshake succeeded (a member's: the CA signed it) no longer
 * counts, so a flood of strangers cannot close the members' open links; it can delay a member's new connection while
 * it lasts, which takes a stranger 256 silent connections every 3 s from 16 addresses or IPv6 /64s.
 */
final class TlsServerRpc extends RaftServerRpcWithProxy<TlsPeerProxy, PeerProxyMap<TlsPeerProxy>> {
  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(TlsServerRpc.class);
  static final int MAX_HANDSHAKING = 256;
  static final int MAX_HANDSHAKING_PER_ADDRESS = 16;
  /** How long a connection may take over its handshake on the Raft port (Netty's default is 10 s). */
  static final long HANDSHAKE_TIMEOUT_MILLIS = 3_000;
  /** Connections in their handshake, in all and per source address; changed only through {@link #admit}. */
  private final java.util.concurrent.atomic.AtomicInteger handshaking = new java.util.concurrent.atomic.AtomicInteger();
  private final java.util.concurrent.ConcurrentHashMap<dev.kvraft.server.net.SourceAddress, Integer> handshakingFrom =
      new java.util.concurrent.ConcurrentHashMap<>();
  /** System.nanoTime() of the last "connections refused" line, so that a flood logs one line a minute. */
  private final java.util.concurrent.atomic.AtomicLong lastRefusalLog = new java.util.concurrent.atomic.AtomicLong(
      System.nanoTime() - TimeUnit.MINUTES.toNanos(1));
  private final java.util.concurrent.atomic.AtomicLong refusedSinceLog = new java.util.concurrent.atomic.AtomicLong();
  private final RaftServer server;
  private final TlsNettyTransport transport;
  private final EventLoopGroup bossGroup;
  private final EventLoopGroup workerGroup;
  private final EventLoopGroup peerGroup;
  private final InetSocketAddress bindAddress;
  private volatile Channel channel;
  private final java.util.Set<Channel> incoming = java.util.concurrent.ConcurrentHashMap.newKeySet();
  private final java.util.Set<TlsPeerProxy> outgoing;

  TlsServerRpc(RaftServer server, TlsNettyTransport transport) {
    this(server, transport, newGroup("raft-tls-peer-" + NettyConfigKeys.Server.port(server.getProperties())),
        java.util.concurrent.ConcurrentHashMap.newKeySet());
  }

  private TlsServerRpc(RaftServer server, TlsNettyTransport transport, EventLoopGroup peerGroup,
      java.util.Set<TlsPeerProxy> outgoing) {
    super(server::getId, id -> new PeerProxyMap<>(id + "-tls-proxies", peer -> {
      var proxy = new TlsPeerProxy(peer, transport, peerGroup, requestTimeout(server));
      outgoing.removeIf(p -> !p.isActive());
      outgoing.add(proxy);
      return proxy;
    }));
    this.outgoing = outgoing;
    this.server = server;
    this.transport = transport;
    this.peerGroup = peerGroup;
    var props = server.getProperties();
    var host = NettyConfigKeys.Server.host(props);
    var port = NettyConfigKeys.Server.port(props);
    // Thread names carry the port: the server's id is not known yet when Ratis builds its RPC.
    this.bossGroup = new NioEventLoopGroup(1, new DefaultThreadFactory("raft-tls-accept-" + port, true));
    this.workerGroup = newGroup("raft-tls-io-" + port);
    this.bindAddress = host == null ? new InetSocketAddress(port) : new InetSocketAddress(host, port);
  }

  private static EventLoopGroup newGroup(String name) {
    return new NioEventLoopGroup(Math.max(2, Runtime.getRuntime().availableProcessors()),
        new DefaultThreadFactory(name, true));
  }

  private static TimeDuration requestTimeout(RaftServer server) {
    return RaftClientConfigKeys.Rpc.requestTimeout(server.getProperties());
  }

  @Override
  public RpcType getRpcType() {
    return new TlsNettyRpcType();
  }

  @Override
  protected void startImpl() throws IOException {
    var b = new ServerBootstrap().group(bossGroup, workerGroup).channel(NioServerSocketChannel.class)
        .childHandler(new ChannelInitializer<SocketChannel>() {
          @Override
          protected void initChannel(SocketChannel ch) {
            var from = ch.remoteAddress() == null ? null
                : dev.kvraft.server.net.SourceAddress.of(ch.remoteAddress().getAddress());
            if (!admit(ch, from)) {
              ch.close();
              return;
            }
            // Its room goes back once: when its handshake is done, failed or cut off, or when it closes (also when
            // setting it up failed before the handshake could begin).
            var over = new java.util.concurrent.atomic.AtomicBoolean();
            Runnable release = () -> {
              if (over.compareAndSet(false, true)) {
                handshakeOver(from);
              }
            };
            ch.closeFuture().addListener(f -> release.run());
            var p = ch.pipeline();
            var tls = transport.contexts().server().newHandler(ch.alloc());
            // Members finish in milliseconds; a stranger that sends nothing holds its room this long at most.
            tls.setHandshakeTimeoutMillis(HANDSHAKE_TIMEOUT_MILLIS);
            tls.handshakeFuture().addListener(f -> release.run());
            p.addLast("tls", tls);
            Frames.addCodec(p, RaftNettyServerRequestProto.getDefaultInstance());
            p.addLast("raft", new InboundHandler(server, transport::bootstrapMembers));
            incoming.add(ch);
            ch.closeFuture().addListener(f -> incoming.remove(ch));
          }
        });
    try {
      var bind = b.bind(bindAddress).sync();
      channel = bind.channel();
      transport.started(this);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while binding the Raft TLS port " + bindAddress, e);
    } catch (Exception e) {
      throw new IOException("cannot bind the Raft TLS port " + bindAddress + ": " + e.getMessage(), e);
    }
  }

  /**
   * Counts {@code ch}'s handshake if it fits under {@link #MAX_HANDSHAKING} and {@link #MAX_HANDSHAKING_PER_ADDRESS}
   * (true); else counts nothing and logs at most once a minute.
   */
  private boolean admit(SocketChannel ch, dev.kvraft.server.net.SourceAddress from) {
    if (handshaking.incrementAndGet() <= MAX_HANDSHAKING) {
      if (from == null) {
        return true;
      }
      var admitted = new boolean[1];
      handshakingFrom.compute(from, (k, n) -> {
        int now = n == null ? 0 : n;
        admitted[0] = now < MAX_HANDSHAKING_PER_ADDRESS;
        return admitted[0] ? now + 1 : n;
      });
      if (admitted[0]) {
        return true;
      }
    }
    handshaking.decrementAndGet();
    refusedSinceLog.incrementAndGet();
    long last = lastRefusalLog.get();
    long now = System.nanoTime();
    if (now - last >= TimeUnit.MINUTES.toNanos(1) && lastRefusalLog.compareAndSet(last, now)) {
      LOG.warn("Raft port {}: refused {} connection(s) in the last minute, the last from {} ({} in their TLS"
          + " handshake, at most {}, {} from one address); only members should reach this port", bindAddress,
          refusedSinceLog.getAndSet(0), ch.remoteAddress(), handshaking.get(), MAX_HANDSHAKING,
          MAX_HANDSHAKING_PER_ADDRESS);
    }
    return false;
  }

  /** A handshake {@link #admit} counted is over (done, failed, or its connection closed). */
  private void handshakeOver(dev.kvraft.server.net.SourceAddress from) {
    handshaking.decrementAndGet();
    if (from != null) {
      handshakingFrom.computeIfPresent(from, (k, n) -> n > 1 ? n - 1 : null);
    }
  }

  @Override
  public void closeImpl() throws IOException {
    transport.closed(this);
    var ch = channel;
    if (ch != null) {
      ch.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
    }
    super.closeImpl();
    for (var g : new EventLoopGroup[] {bossGroup, workerGroup, peerGroup}) {
      g.shutdownGracefully(0, 2, TimeUnit.SECONDS);
    }
  }

  /**
   * Closes the open channels whose authenticated peer is no longer a member of this server's Raft group: incoming ones
   * whose certificate names no member (each closed on its event loop, with one WARN line), outgoing ones to a peer id
   * no longer in the configuration (one INFO line each; a later call to that id, should Ratis make one, connects
   * anew). Called after a configuration change applied or came with a snapshot install, on Ratis's updater thread or
   * on the event loop handling the InstallSnapshot request; does not block.
   */
  void closeNonMembers() {
    var members = InboundHandler.members(server, transport::bootstrapMembers);
    for (var ch : incoming) {
      var handler = ch.pipeline().get(InboundHandler.class);
      if (handler != null) {
        try {
          ch.eventLoop().execute(() -> handler.closeUnlessMember(members));
        } catch (java.util.concurrent.RejectedExecutionException e) {
          // this server is closing: its event loops, and the channel with them, are going away anyway
        }
      }
    }
    for (var proxy : outgoing) {
      if (!proxy.isActive()) {
        outgoing.remove(proxy);
      } else if (!members.contains(proxy.peerId())) {
        outgoing.remove(proxy);
        LOG.info("closed the Raft connection to {}: it is no longer a member of the Raft group {}", proxy.peerId(),
            members);
        proxy.close();
      }
    }
  }

  /** For tests: the ids this server holds an open outgoing Raft connection to. */
  java.util.Set<String> outgoingPeers() {
    var ids = new java.util.TreeSet<String>();
    outgoing.stream().filter(TlsPeerProxy::isActive).forEach(p -> ids.add(p.peerId()));
    return ids;
  }

  @Override
  public InetSocketAddress getInetSocketAddress() {
    var ch = channel;
    return ch == null ? bindAddress : (InetSocketAddress) ch.localAddress();
  }

  @Override
  public RequestVoteReplyProto requestVote(RequestVoteRequestProto request) throws IOException {
    return call(request.getServerRequest().getReplyId(),
        RaftNettyServerRequestProto.newBuilder().setRequestVoteRequest(request).build()).getRequestVoteReply();
  }

  @Override
  public AppendEntriesReplyProto appendEntries(AppendEntriesRequestProto request) throws IOException {
    return call(request.getServerRequest().getReplyId(),
        RaftNettyServerRequestProto.newBuilder().setAppendEntriesRequest(request).build()).getAppendEntriesReply();
  }

  @Override
  public InstallSnapshotReplyProto installSnapshot(InstallSnapshotRequestProto request) throws IOException {
    return call(request.getServerRequest().getReplyId(),
        RaftNettyServerRequestProto.newBuilder().setInstallSnapshotRequest(request).build()).getInstallSnapshotReply();
  }

  @Override
  public StartLeaderElectionReplyProto startLeaderElection(StartLeaderElectionRequestProto request) throws IOException {
    return call(request.getServerRequest().getReplyId(),
        RaftNettyServerRequestProto.newBuilder().setStartLeaderElectionRequest(request).build())
        .getStartLeaderElectionReply();
  }

  private RaftNettyServerReplyProto call(org.apache.ratis.thirdparty.com.google.protobuf.ByteString to,
      RaftNettyServerRequestProto request) throws IOException {
    var id = RaftPeerId.valueOf(to);
    var reply = TlsPeerProxy.live(getProxies(), id).send(request);
    Replies.throwIfException(reply);
    return reply;
  }
}
