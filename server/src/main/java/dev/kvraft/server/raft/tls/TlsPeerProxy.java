package dev.kvraft.server.raft.tls;

import java.io.Closeable;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.apache.ratis.netty.NettyRpcProxy;
import org.apache.ratis.proto.netty.NettyProtos.RaftNettyServerReplyProto;
import org.apache.ratis.proto.netty.NettyProtos.RaftNettyServerRequestProto;
import org.apache.ratis.protocol.RaftPeer;
import org.apache.ratis.thirdparty.io.netty.bootstrap.Bootstrap;
import org.apache.ratis.thirdparty.io.netty.channel.Channel;
import org.apache.ratis.thirdparty.io.netty.channel.ChannelHandlerContext;
import org.apache.ratis.thirdparty.io.netty.channel.ChannelInitializer;
import org.apache.ratis.thirdparty.io.netty.channel.EventLoopGroup;
import org.apache.ratis.thirdparty.io.netty.channel.SimpleChannelInboundHandler;
import org.apache.ratis.thirdparty.io.netty.channel.socket.SocketChannel;
import org.apache.ratis.thirdparty.io.netty.channel.socket.nio.NioSocketChannel;
import org.apache.ratis.thirdparty.io.netty.handler.ssl.SslHandler;
import org.apache.ratis.util.TimeDuration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One mutually authenticated TLS connection to one Raft peer. The constructor connects, completes
 * the handshake and checks that the server's certificate names {@code peer}'s id (SAN DNS or CN);
 * otherwise it closes the channel and throws, so nothing is ever sent to an impostor.
 * State: {@code pending} (call id to reply future) is shared by callers and the channel's event
 * loop; a ConcurrentHashMap, bounded by the callers' outstanding requests.
 */
final class TlsPeerProxy implements Closeable {
  private static final Logger LOG = LoggerFactory.getLogger(TlsPeerProxy.class);

  private final RaftPeer peer;
  private final Channel channel;
  private final TimeDuration requestTimeout;
  /** The certificate the peer presented at the handshake (for tests and logs). */
  private final java.security.cert.Certificate presented;
  private final Map<Long, CompletableFuture<RaftNettyServerReplyProto>> pending = new ConcurrentHashMap<>();

  TlsPeerProxy(RaftPeer peer, TlsNettyTransport transport, EventLoopGroup group, TimeDuration requestTimeout)
      throws IOException {
    this.peer = peer;
    this.requestTimeout = requestTimeout;
    var ssl = transport.contexts().client();
    var address = parse(peer.getAddress());
    // Kept here, not looked up in the pipeline later: a peer that refuses us closes the channel, and a closed
    // channel's pipeline no longer holds its handlers (the lookup then gave null, and a NullPointerException).
    var tls = new java.util.concurrent.atomic.AtomicReference<SslHandler>();
    var bootstrap = new Bootstrap().group(group).channel(NioSocketChannel.class)
        .handler(new ChannelInitializer<SocketChannel>() {
          @Override
          protected void initChannel(SocketChannel ch) {
            var p = ch.pipeline();
            tls.set(ssl.newHandler(ch.alloc(), address.getHostString(), address.getPort()));
            p.addLast("tls", tls.get());
            Frames.addCodec(p, RaftNettyServerReplyProto.getDefaultInstance());
            p.addLast("replies", new Replies());
          }
        });
    try {
      var connect = bootstrap.connect(address);
      if (!connect.await(requestTimeout.toLong(TimeUnit.MILLISECONDS)) || !connect.isSuccess()) {
        connect.channel().close();
        throw new IOException("cannot connect to Raft peer " + peer.getId() + " at " + address + ": "
            + (connect.cause() == null ? "timed out" : connect.cause().getMessage()));
      }
      channel = connect.channel();
      var handshake = tls.get().handshakeFuture();
      if (!handshake.await(requestTimeout.toLong(TimeUnit.MILLISECONDS)) || !handshake.isSuccess()) {
        channel.close();
        throw new IOException("TLS handshake with Raft peer " + peer.getId() + " at " + address + " failed: "
            + (handshake.cause() == null ? "timed out" : handshake.cause().getMessage()));
      }
      var session = tls.get().engine().getSession();
      presented = session.getPeerCertificates()[0];
      var names = PeerIdentity.names(session);
      if (!names.contains(peer.getId().toString())) {
        channel.close();
        LOG.warn("refused Raft peer {} at {}: its certificate names {} instead of {}; check that node's tls.cert.file",
            peer.getId(), address, names, peer.getId());
        throw new IOException("Raft peer at " + address + " presented a certificate for " + names
            + ", not for " + peer.getId());
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while connecting to Raft peer " + peer.getId(), e);
    }
  }

  private static InetSocketAddress parse(String address) throws IOException {
    try {
      var hp = dev.kvraft.proto.HostPort.parse(address);
      return new InetSocketAddress(hp.host(), hp.port());
    } catch (IllegalArgumentException e) {
      throw new IOException("Raft peer address is not usable: " + e.getMessage(), e);
    }
  }

  /**
   * The proxy for {@code id}, reconnecting if its connection has closed (the peer restarted or
   * refused us): Ratis resets a proxy only for some exceptions, so a dead one is replaced here.
   */
  static TlsPeerProxy live(org.apache.ratis.util.PeerProxyMap<TlsPeerProxy> proxies,
      org.apache.ratis.protocol.RaftPeerId id) throws IOException {
    var proxy = proxies.getProxy(id);
    if (!proxy.isActive()) {
      proxies.resetProxy(id);
      proxy = proxies.getProxy(id);
    }
    return proxy;
  }

  CompletableFuture<RaftNettyServerReplyProto> sendAsync(RaftNettyServerRequestProto request) {
    long callId = Frames.header(request).getCallId();
    var reply = new CompletableFuture<RaftNettyServerReplyProto>();
    pending.put(callId, reply);
    reply.whenComplete((r, e) -> pending.remove(callId, reply));
    if (!channel.isActive()) {
      reply.completeExceptionally(new IOException("connection to Raft peer " + peer.getId() + " is closed"));
      return reply;
    }
    channel.writeAndFlush(request).addListener(f -> {
      if (!f.isSuccess()) {
        reply.completeExceptionally(new IOException("cannot send to Raft peer " + peer.getId(), f.cause()));
      }
    });
    return reply.orTimeout(requestTimeout.toLong(TimeUnit.MILLISECONDS), TimeUnit.MILLISECONDS);
  }

  RaftNettyServerReplyProto send(RaftNettyServerRequestProto request) throws IOException {
    try {
      return sendAsync(request).get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted waiting for Raft peer " + peer.getId(), e);
    } catch (java.util.concurrent.ExecutionException e) {
      throw e.getCause() instanceof IOException io ? io
          : new IOException("request to Raft peer " + peer.getId() + " failed: " + e.getCause(), e.getCause());
    }
  }

  /** The certificate the peer presented. */
  java.security.cert.Certificate peerCertificate() {
    return presented;
  }

  String peerId() {
    return peer.getId().toString();
  }

  /** False once the connection has closed; the owner then replaces this proxy with a new connection. */
  boolean isActive() {
    return channel.isActive();
  }

  @Override
  public void close() {
    channel.close();
    failAll(new IOException("connection to Raft peer " + peer.getId() + " closed"));
  }

  private void failAll(IOException e) {
    pending.values().forEach(f -> f.completeExceptionally(e));
  }

  private final class Replies extends SimpleChannelInboundHandler<RaftNettyServerReplyProto> {
    @Override
    protected void channelRead0(ChannelHandlerContext ctx, RaftNettyServerReplyProto reply) {
      var f = pending.get(NettyRpcProxy.getCallId(reply));
      if (f != null) {
        f.complete(reply);
      }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) throws Exception {
      failAll(new IOException("connection to Raft peer " + peer.getId() + " was closed by the peer"));
      super.channelInactive(ctx);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      failAll(new IOException("connection to Raft peer " + peer.getId() + " failed: " + cause.getMessage(), cause));
      ctx.close();
    }
  }
}
