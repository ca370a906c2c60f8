package dev.kvraft.server.raft.tls;

import java.io.IOException;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.ratis.RaftConfigKeys;
import org.apache.ratis.conf.Parameters;
import org.apache.ratis.conf.RaftProperties;

/**
 * The TLS material of one node's Raft transport, reloadable. Owner: the node; {@link #reload()} may
 * be called from any thread (the SIGHUP handler) and applies to connections made afterwards; open
 * connections keep the contexts they were made with. It also knows the server RPCs made with it
 * ({@code servers}, a concurrent set each RPC adds itself to when it starts and removes itself from when it closes),
 * so that {@link #membershipChanged()} can reach their open channels.
 */
public final class TlsNettyTransport {
  static final String PARAMETER = "kvraft.raft.tls.transport";

  private final TlsSettings settings;
  private final AtomicReference<TlsSettings.Contexts> contexts;
  private final java.util.Set<TlsServerRpc> servers = java.util.concurrent.ConcurrentHashMap.newKeySet();

  /** Member ids from the cluster setting: who may connect while this node's group is still empty (--join). */
  private volatile java.util.Set<String> bootstrapMembers = java.util.Set.of();

  private TlsNettyTransport(TlsSettings settings, TlsSettings.Contexts contexts) {
    this.settings = settings;
    this.contexts = new AtomicReference<>(contexts);
  }

  /**
   * The members named by the cluster setting. A node started with --join has an empty Raft group until the leader
   * adds it, so it would refuse the leader itself; until it has a configuration, peers presenting one of these ids
   * are let in (their certificates must still chain to the CA and name the id).
   */
  public void bootstrapMembers(java.util.Set<String> ids) {
    this.bootstrapMembers = java.util.Set.copyOf(ids);
  }

  java.util.Set<String> bootstrapMembers() {
    return bootstrapMembers;
  }

  /**
   * A configuration change was applied, or taken with a snapshot install (the node caught up by snapshot and never
   * applies the entry): every server RPC of this transport closes its open Raft channels, incoming and outgoing, whose
   * authenticated peer is no longer a member (a removed node's channel must not stay trusted). New channels from it
   * are already refused, at their handshake. Any thread; does not block (the closes run on the channels' event loops).
   */
  public void membershipChanged() {
    servers.forEach(TlsServerRpc::closeNonMembers);
  }

  /** For tests: the peer ids this node's server RPCs hold an open outgoing connection to. */
  java.util.Set<String> outgoingPeers() {
    var ids = new java.util.TreeSet<String>();
    servers.forEach(s -> ids.addAll(s.outgoingPeers()));
    return ids;
  }

  void started(TlsServerRpc rpc) {
    servers.add(rpc);
  }

  void closed(TlsServerRpc rpc) {
    servers.remove(rpc);
  }

  /** Loads the files now; fails with an IOException naming the bad file. */
  public static TlsNettyTransport load(TlsSettings settings) throws IOException {
    return new TlsNettyTransport(settings, settings.load());
  }

  /** Re-reads the files; on failure the old material stays in use and the error is thrown. */
  public void reload() throws IOException {
    contexts.set(settings.load());
  }

  /**
   * Builds the contexts from {@code m}, read once by the caller for both of the node's ports, and returns what
   * installs them; on failure nothing changes. Reads no file.
   */
  public Runnable prepareReload(dev.kvraft.proto.PemTls.Material m) throws IOException {
    var built = settings.contexts(m);
    return () -> contexts.set(built);
  }

  public TlsSettings settings() {
    return settings;
  }

  TlsSettings.Contexts contexts() {
    return contexts.get();
  }

  /** Selects this transport in {@code properties} and hands it to Ratis through {@code parameters}. */
  public void applyTo(RaftProperties properties, Parameters parameters) {
    RaftConfigKeys.Rpc.setType(properties, new TlsNettyRpcType());
    parameters.put(PARAMETER, this, TlsNettyTransport.class);
  }

  static TlsNettyTransport from(Parameters parameters) {
    var t = parameters == null ? null : parameters.get(PARAMETER, TlsNettyTransport.class);
    return Objects.requireNonNull(t, "raft.rpc.type is the kvraft TLS transport but no TLS material was"
        + " passed in the Ratis Parameters; use TlsNettyTransport.applyTo");
  }
}
