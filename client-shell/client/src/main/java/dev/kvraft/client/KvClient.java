package dev.kvraft.client;

import com.google.protobuf.ByteString;
import dev.kvraft.proto.Compare;
import dev.kvraft.proto.Consistency;
import dev.kvraft.proto.Delete;
import dev.kvraft.proto.Get;
import dev.kvraft.proto.KeyValue;
import dev.kvraft.proto.Members;
import dev.kvraft.proto.MembersResult;
import dev.kvraft.proto.Op;
import dev.kvraft.proto.Put;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import dev.kvraft.proto.Scan;
import dev.kvraft.proto.ScanResult;
import dev.kvraft.proto.Status;
import dev.kvraft.proto.StatusResult;
import dev.kvraft.proto.Txn;
import dev.kvraft.proto.TxnResult;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The kvraft client library: blocking calls with typed results, plus {@link #callAsync} for pipelining many
 * requests on one connection. Thread-safe; share one client between threads.
 *
 * <p>Failures are {@link KvException}s, one subclass per error code. The client retries on its own only what is
 * safe: requests the server answered {@code UNAVAILABLE} (not applied), and reads whose connection was lost, moving
 * to the leader the server named or to the next address. A write whose connection was lost after it was sent is
 * reported as {@link KvTimeoutException} (outcome unknown), never silently sent again.
 *
 * <p>Writes, lease keep-alives and linearizable gets and scans go to the leader when the client knows it (from
 * {@code members} at the first connection, or from the {@code leader_address} a follower puts on the answer to a
 * write it forwarded or a linearizable read it had the leader confirm), which saves the follower's relay or its
 * read-index call; STALE reads go round-robin over every node, everything else to the connected node. Any node would
 * do: this is for speed.
 *
 * <p>This class is the API: it builds each request and unwraps its answer. {@link Calls} sends the requests and
 * owns the retry rules, the deadlines and the request ids; {@link Routes} picks the connection for each request and
 * owns the connections, and its {@link MemberDiscovery} learns the members. Its own fields are final, set by the
 * {@link Builder} (the settings are kept for {@link #forNode}), so any thread may use it.
 */
public final class KvClient implements AutoCloseable {
  private final Duration connectTimeout;
  /** Kept for {@link #forNode}. */
  private final Duration watchKeepAlive;
  /** TLS towards every node, or null for plaintext (kept for {@link #forNode}). */
  private final javax.net.ssl.SSLContext tls;
  /** The user every connection authenticates as, or null; and its password (kept for {@link #forNode}). */
  private final String user;
  private final String password;
  private final Routes routes;
  private final Calls calls;
  /** The running keep-alives: close() wakes them, or each would sleep up to a third of its TTL before noticing. */
  private final java.util.Set<KeepAlive> keepAlives = java.util.concurrent.ConcurrentHashMap.newKeySet();
  /** The running watches: close() wakes them, or one backing off would wait up to 2 s before ending. */
  private final java.util.Set<Watcher> watchers = java.util.concurrent.ConcurrentHashMap.newKeySet();

  private KvClient(Builder b) {
    this.connectTimeout = b.connectTimeout;
    this.watchKeepAlive = b.watchKeepAlive;
    this.tls = b.tls;
    this.user = b.user;
    this.password = b.password;
    var ids = new AtomicLong();
    boolean writesToLeader = b.writesToLeader != null ? b.writesToLeader : b.discover;
    this.routes = new Routes(b.addresses, b.connectTimeout, b.tls, b.user, b.password, b.discover, writesToLeader,
        b.readsToLeader != null ? b.readsToLeader : writesToLeader, ids::incrementAndGet, b.watchKeepAlive);
    this.calls = new Calls(b.timeout, ids, routes);
  }

  /** Settings for a {@link KvClient}. */
  public static final class Builder {
    private final List<String> addresses = new ArrayList<>();
    private Duration timeout = Duration.ofSeconds(10);
    private Duration connectTimeout = Duration.ofSeconds(2);
    private Duration watchKeepAlive = Duration.ofSeconds(10);
    private boolean discover = true;
    private Boolean writesToLeader;
    private Boolean readsToLeader;
    private javax.net.ssl.SSLContext tls;
    private String user;
    private String password;

    /**
     * Authenticates every connection as {@code user} with {@code password} (a server with auth on answers
     * {@link UnauthenticatedException} otherwise). Servers take passwords only over TLS, or on loopback.
     */
    public Builder credentials(String user, String password) {
      if (user == null || user.isEmpty()) {
        throw new IllegalArgumentException("the user name is empty");
      }
      this.user = user;
      this.password = password == null ? "" : password;
      return this;
    }

    /**
     * Talks TLS, verifying each server's certificate against the CA in {@code files} and its host name or IP against
     * the address connected to; presents the client certificate in {@code files} when it names one (a server with
     * {@code tls.client.auth=require} needs it). Reads the files now: a missing, non-PEM or expired one is an
     * {@link IllegalArgumentException} naming it.
     */
    public Builder tls(dev.kvraft.proto.PemTls files) {
      try {
        this.tls = files.context();
      } catch (IOException e) {
        throw new IllegalArgumentException(e.getMessage(), e);
      }
      return this;
    }

    /**
     * Talks TLS with a ready SSLContext (from {@link dev.kvraft.proto.PemTls#context()}, say), still checking each
     * server's host name. Building a context reads files and seeds a random generator: a program that opens many
     * clients should build it once and share it (it also lets TLS resume sessions).
     */
    public Builder tls(javax.net.ssl.SSLContext context) {
      this.tls = java.util.Objects.requireNonNull(context, "context");
      return this;
    }

    /**
     * One or more {@code host:port} client addresses; a comma-separated list counts as several. An address given
     * twice counts once (a duplicate would make failover move from a node to itself), also when spelled two ways
     * that need no DNS to match ({@code Node1:7379} and {@code node1:7379}, {@code [::1]} and
     * {@code [0:0:0:0:0:0:0:1]}): each is kept in one spelling (lower case, the shortest IPv6 form). A name and an IP
     * of the same node ({@code localhost:7379}, {@code 127.0.0.1:7379}) still count twice: give each node once.
     */
    public Builder addresses(String... list) {
      for (var a : list) {
        for (var part : a.split(",")) {
          if (!part.isBlank()) {
            var address = Addresses.canonical(part);
            if (!addresses.contains(address)) {
              addresses.add(address);
            }
          }
        }
      }
      return this;
    }

    /** How long one call may take in all, retries included. */
    public Builder timeout(Duration d) {
      if (d.isNegative() || d.isZero()) {
        throw new IllegalArgumentException("timeout must be positive, got " + d);
      }
      this.timeout = d;
      return this;
    }

    /**
     * Whether to learn the other members from the first node reached (default true), so that a client given one
     * address can fail over and spread STALE reads over every node.
     */
    public Builder discoverMembers(boolean on) {
      this.discover = on;
      return this;
    }

    /**
     * Whether writes go straight to the leader once the client knows it (default: on when members are discovered,
     * off for a client told to talk to its addresses only). Off, writes go to the connected node, which forwards
     * them when it is a follower, and so do linearizable reads unless {@link #readsToLeader} says otherwise.
     */
    public Builder writesToLeader(boolean on) {
      this.writesToLeader = on;
      return this;
    }

    /**
     * Whether linearizable gets and scans go straight to the leader once the client knows it (default: as
     * {@link #writesToLeader}, itself on when members are discovered). The leader confirms its
     * leadership once for many reads, where a follower must first ask the leader for a read index: fewer hops, and
     * less work for the cluster. Off, they go to the connected node; STALE reads go round-robin over every node
     * either way.
     */
    public Builder readsToLeader(boolean on) {
      this.readsToLeader = on;
      return this;
    }

    /**
     * How long a connection carrying watches may hear nothing from its node before the client asks the node for a
     * sign of life (a {@code members} request), and how long it then waits for one; without it the connection is
     * dropped and its watches resume on another node from the revision after the last one delivered. A watch
     * otherwise sends nothing, so a node powered off or cut off without a reset would hold it forever. Default 10 s:
     * a silent node is left within 20 s, in the range of etcd clients' keepalive pings (Kubernetes pings every 30 s
     * and waits 10 s), while a healthy but quiet node costs one small request per 10 s of silence per connection.
     * Keep it above the longest pause the nodes may take (a GC pause, a slow disk at startup).
     */
    public Builder watchKeepAlive(Duration d) {
      if (d.isNegative() || d.isZero()) {
        throw new IllegalArgumentException("watchKeepAlive must be positive, got " + d);
      }
      this.watchKeepAlive = d;
      return this;
    }

    /**
     * How long connecting to a node, and then the TLS handshake, may take each (default 2 s); for a call, never past
     * its deadline ({@link #timeout}).
     */
    public Builder connectTimeout(Duration d) {
      this.connectTimeout = d;
      return this;
    }

    public KvClient build() {
      if (addresses.isEmpty()) {
        throw new IllegalArgumentException("no address given: name at least one node, e.g. 127.0.0.1:7379");
      }
      return new KvClient(this);
    }
  }

  public static Builder builder() {
    return new Builder();
  }

  /**
   * A new client for one node only (no member discovery) with this client's TLS settings and connect timeout, and
   * {@code timeout} per call: for asking every member something, or a long call on one node. Close it after use.
   */
  public KvClient forNode(String address, Duration timeout) {
    var b = builder().addresses(address).discoverMembers(false).writesToLeader(false).timeout(timeout)
        .connectTimeout(connectTimeout).watchKeepAlive(watchKeepAlive);
    b.tls = tls;
    b.user = user;
    b.password = password;
    return b.build();
  }

  /** A client for the given addresses with the default timeouts. */
  public static KvClient connect(String... addresses) {
    return builder().addresses(addresses).build();
  }

  public Duration timeout() {
    return calls.timeout();
  }

  /** The address of the node this client talks to now, or empty when not connected to it. */
  public Optional<String> currentAddress() {
    return routes.currentAddress();
  }

  /** The leader's client address, where this client sends its writes and linearizable reads, when it knows it. */
  public Optional<String> leaderAddress() {
    return routes.leaderAddress();
  }

  /** Every address known: the ones given, then the members learned from the cluster. */
  public List<String> addresses() {
    return routes.addresses();
  }

  // ---- typed calls ----------------------------------------------------------------------------

  public Optional<KeyValue> get(String key) {
    return get(utf8(key), Consistency.LINEARIZABLE);
  }

  public Optional<KeyValue> get(ByteString key, Consistency consistency) {
    var r = call(Request.newBuilder().setGet(Get.newBuilder().setKey(key).setConsistency(consistency)));
    return r.getGet().hasKv() ? Optional.of(r.getGet().getKv()) : Optional.empty();
  }

  /** Writes a value and returns the store revision of the write. */
  public long put(String key, String value) {
    return put(utf8(key), utf8(value));
  }

  public long put(ByteString key, ByteString value) {
    return call(Request.newBuilder().setPut(Put.newBuilder().setKey(key).setValue(value))).getHeader().getRevision();
  }

  /** Writes a value and returns what it replaced, if anything. */
  public Optional<KeyValue> putPrev(ByteString key, ByteString value) {
    var r = call(Request.newBuilder().setPut(Put.newBuilder().setKey(key).setValue(value).setPrevKv(true)));
    return r.getPut().hasPrev() ? Optional.of(r.getPut().getPrev()) : Optional.empty();
  }

  /** Deletes one key; returns how many keys were deleted (0 or 1). */
  public long delete(String key) {
    return delete(utf8(key), ByteString.EMPTY);
  }

  /** Deletes every key in {@code [key, rangeEnd)} (one key when rangeEnd is empty); returns how many. */
  public long delete(ByteString key, ByteString rangeEnd) {
    return call(Request.newBuilder().setDelete(Delete.newBuilder().setKey(key).setRangeEnd(rangeEnd)))
        .getDelete().getDeleted();
  }

  public ScanResult scan(Scan scan) {
    return call(Request.newBuilder().setScan(scan)).getScan();
  }

  /** Key-values whose keys start with {@code prefix}, in key order; {@code limit} 0 means the server's default. */
  public ScanResult scanPrefix(ByteString prefix, int limit, Consistency consistency) {
    return scan(Scan.newBuilder().setStart(prefix).setEnd(prefixEnd(prefix)).setLimit(limit)
        .setConsistency(consistency).build());
  }

  public TxnResult txn(Txn txn) {
    return call(Request.newBuilder().setTxn(txn)).getTxn();
  }

  /**
   * Compare-and-set: writes {@code value} only if the key's value is {@code expected} (or, when expected is null,
   * only if the key does not exist). Returns whether it wrote.
   */
  public boolean cas(ByteString key, ByteString expected, ByteString value) {
    var compare = Compare.newBuilder().setKey(key);
    if (expected == null) {
      compare.setTarget(Compare.Target.VERSION).setOperator(Compare.Operator.EQUAL).setVersion(0);
    } else {
      compare.setTarget(Compare.Target.VALUE).setOperator(Compare.Operator.EQUAL).setValue(expected);
    }
    return txn(Txn.newBuilder().addCompare(compare)
        .addSuccess(Op.newBuilder().setPut(Put.newBuilder().setKey(key).setValue(value))).build()).getSucceeded();
  }

  /** Compare-and-set on the key's mod revision (0: the key must not exist). */
  public boolean casRevision(ByteString key, long modRevision, ByteString value) {
    var compare = Compare.newBuilder().setKey(key).setTarget(Compare.Target.MOD_REVISION)
        .setOperator(Compare.Operator.EQUAL).setModRevision(modRevision);
    return txn(Txn.newBuilder().addCompare(compare)
        .addSuccess(Op.newBuilder().setPut(Put.newBuilder().setKey(key).setValue(value))).build()).getSucceeded();
  }

  // ---- cluster administration -----------------------------------------------------------------

  public StatusResult status() {
    return call(Request.newBuilder().setStatus(Status.getDefaultInstance())).getStatus();
  }

  /** Asks the connected node to write a snapshot of its state now. */
  public dev.kvraft.proto.SnapshotResult snapshot() {
    return call(Request.newBuilder().setSnapshot(dev.kvraft.proto.Snapshot.getDefaultInstance())).getSnapshot();
  }

  /**
   * Writes a consistent copy of the whole store to {@code file}: a SQLite database in the snapshot format (tables
   * {@code meta}, {@code system}, {@code kv}), taken by one node at a linearizable point and read from it in 1 MiB
   * chunks. The SHA-256 is checked before the file replaces {@code file} (atomically); on any failure {@code file} is
   * left as it was and no partial file remains. Returns what the node said about the copy (revision, keys, bytes).
   */
  public dev.kvraft.proto.BackupResult backup(java.nio.file.Path file) {
    return Backups.download(this, file);
  }

  /**
   * Asks the leader to hand leadership to {@code target} (null or empty: the follower whose log is furthest ahead),
   * like etcd's move-leader; returns the id of the member that leads afterwards. Writes sent meanwhile are retried
   * by the server, not failed.
   */
  public String transferLeader(String target) {
    return call(Request.newBuilder().setTransferLeader(dev.kvraft.proto.TransferLeader.newBuilder()
        .setTarget(target == null ? "" : target))).getTransferLeader().getLeaderId();
  }

  /**
   * Adds node {@code id} at {@code address} ({@code host:clientPort:peerPort}); the node must be running with
   * {@code --join}. It catches up without voting, then votes unless {@code learner}. Sent to the leader
   * (found by the client); one change at a time ({@link ConflictException} otherwise).
   */
  public dev.kvraft.proto.MemberChangeResult memberAdd(String id, String address, boolean learner) {
    return memberChange(dev.kvraft.proto.MemberChange.newBuilder().setAction(dev.kvraft.proto.MemberChange.Action.ADD)
        .setId(id).setAddress(address).setLearner(learner));
  }

  /** Removes member {@code id} (the leader too: it steps down); the removed node stops serving. */
  public dev.kvraft.proto.MemberChangeResult memberRemove(String id) {
    return memberChange(dev.kvraft.proto.MemberChange.newBuilder()
        .setAction(dev.kvraft.proto.MemberChange.Action.REMOVE).setId(id));
  }

  /** Makes learner {@code id} a voter. */
  public dev.kvraft.proto.MemberChangeResult memberPromote(String id) {
    return memberChange(dev.kvraft.proto.MemberChange.newBuilder()
        .setAction(dev.kvraft.proto.MemberChange.Action.PROMOTE).setId(id));
  }

  private dev.kvraft.proto.MemberChangeResult memberChange(dev.kvraft.proto.MemberChange.Builder change) {
    return call(Request.newBuilder().setMemberChange(change)).getMemberChange();
  }

  public MembersResult members() {
    return call(Request.newBuilder().setMembers(Members.getDefaultInstance())).getMembers();
  }

  /**
   * Drops history before {@code revision} on every node (kvraft.db's older per-key rows; later, watches from before
   * it); returns the compact revision. {@link CompactedException} when it is not above the current one.
   */
  public long compact(long revision) {
    return call(Request.newBuilder().setCompact(dev.kvraft.proto.Compact.newBuilder().setRevision(revision)))
        .getCompact().getCompactRevision();
  }

  /** The cluster's raised alarms (NOSPACE: a node over storage.quota.bytes; writes that add data are refused). */
  public java.util.List<dev.kvraft.proto.AlarmMember> alarms() {
    return call(Request.newBuilder().setAlarm(dev.kvraft.proto.Alarm.newBuilder()
        .setAction(dev.kvraft.proto.Alarm.Action.LIST))).getAlarm().getAlarmsList();
  }

  /** Clears every alarm; a node still over its quota raises its alarm again within seconds. */
  public void disarmAlarms() {
    call(Request.newBuilder().setAlarm(dev.kvraft.proto.Alarm.newBuilder()
        .setAction(dev.kvraft.proto.Alarm.Action.DISARM)));
  }

  /** Adds, changes or removes a user or role, or turns auth on or off (root only once auth is on). */
  public void authChange(dev.kvraft.proto.AuthChange.Builder change) {
    call(Request.newBuilder().setAuthChange(change));
  }

  /** Every user (with roles) and role (with permissions), and whether auth is on (root only once auth is on). */
  public dev.kvraft.proto.AuthReadResult authRead() {
    return call(Request.newBuilder().setAuthRead(dev.kvraft.proto.AuthRead.getDefaultInstance())).getAuthRead();
  }

  // ---- leases ---------------------------------------------------------------------------------

  /** Grants a lease of {@code ttlSeconds} (raised to the cluster's minimum); returns its id and TTL. */
  public dev.kvraft.proto.LeaseGrantResult leaseGrant(long ttlSeconds) {
    return call(Request.newBuilder().setLeaseGrant(dev.kvraft.proto.LeaseGrant.newBuilder()
        .setTtlSeconds(ttlSeconds))).getLeaseGrant();
  }

  /** Revokes a lease now; returns how many keys were deleted with it. */
  public long leaseRevoke(long id) {
    return call(Request.newBuilder().setLeaseRevoke(dev.kvraft.proto.LeaseRevoke.newBuilder().setId(id)))
        .getLeaseRevoke().getDeleted();
  }

  /** Renews a lease once, to its full TTL; returns the TTL. */
  public long leaseKeepAliveOnce(long id) {
    return call(keepAliveRequest(id)).getLeaseKeepAlive().getTtlSeconds();
  }

  /**
   * {@link #leaseKeepAliveOnce(long)} waiting at most {@code timeout}, and for a late answer at most half as long
   * again (a {@link KeepAlive}'s one attempt).
   */
  long leaseKeepAliveOnce(long id, Duration timeout) {
    return calls.call(keepAliveRequest(id), timeout).getLeaseKeepAlive().getTtlSeconds();
  }

  private static Request.Builder keepAliveRequest(long id) {
    return Request.newBuilder().setLeaseKeepAlive(dev.kvraft.proto.LeaseKeepAlive.newBuilder().setId(id));
  }

  /** What is left of a lease, with its keys when asked. */
  public dev.kvraft.proto.LeaseTimeToLiveResult leaseTimeToLive(long id, boolean keys) {
    return call(Request.newBuilder().setLeaseTimeToLive(dev.kvraft.proto.LeaseTimeToLive.newBuilder().setId(id)
        .setKeys(keys))).getLeaseTimeToLive();
  }

  public java.util.List<dev.kvraft.proto.LeaseTimeToLiveResult> leaseList() {
    return call(Request.newBuilder().setLeaseList(dev.kvraft.proto.LeaseList.getDefaultInstance())).getLeaseList()
        .getLeasesList();
  }

  /** Puts a key attached to a lease: deleted when the lease expires or is revoked. Returns the revision. */
  public long put(ByteString key, ByteString value, long lease) {
    return call(Request.newBuilder().setPut(Put.newBuilder().setKey(key).setValue(value).setLease(lease)))
        .getHeader().getRevision();
  }

  /**
   * Keeps a lease alive, renewing it every third of its TTL on a thread of its own, until closed or until the lease
   * is gone ({@link KeepAlive#isAlive()} turns false), or may be: no renewal succeeded for a whole TTL since the last
   * one was sent.
   */
  public KeepAlive keepAlive(long leaseId) {
    return keepAlive(KeepAlive.start(this, leaseId));
  }

  /** {@link #keepAlive(long)} of a lease known to live until System.nanoTime() {@code validUntil}. */
  KeepAlive keepAlive(long leaseId, long validUntil) {
    return keepAlive(KeepAlive.start(this, leaseId, validUntil));
  }

  private KeepAlive keepAlive(KeepAlive k) {
    keepAlives.add(k);
    if (isClosed()) {
      k.clientClosed(); // close() may have run before it was in the set
    }
    return k;
  }

  /**
   * Takes the lock {@code name}, waiting as long as it takes: a key under {@code name/} with a lease of the given
   * TTL, kept alive while held; the lowest create revision holds the lock, the others wait for their predecessor's
   * key to go. If this process dies, the lock is free once the lease expires. {@link LeaseNotFoundException} when the
   * lease is lost while it waits (its key went with it, so the lock may be another's).
   */
  public Lock lock(String name, long ttlSeconds) throws InterruptedException {
    return Lock.acquire(this, name, ttlSeconds);
  }

  /** Leader election {@code name} among this program's instances (see {@link Election}). */
  public Election election(String name) {
    return new Election(this, name);
  }

  // ---- watches --------------------------------------------------------------------------------

  /**
   * Watches a key, or a range {@code [key, rangeEnd)} ({@code rangeEnd} "\0": every key from {@code key} on), from
   * {@code fromRevision} (0: from the next change) and hands every change to {@code listener}, whole revisions in
   * order, until {@link Watcher#close}. Survives node failures: it resumes on another node from the last revision
   * delivered, with no gap and no duplicate. That includes a node cut off from the majority that still answers: the
   * watch is opened with {@code require_leader}, so that node ends it once it has known no leader for three maximum
   * election timeouts.
   */
  public Watcher watch(ByteString key, ByteString rangeEnd, long fromRevision, WatchListener listener) {
    return watch(dev.kvraft.proto.Watch.newBuilder().setKey(key).setRangeEnd(rangeEnd).setStartRevision(fromRevision)
        .build(), listener);
  }

  /**
   * {@link #watch(ByteString, ByteString, long, WatchListener)} with every option of {@link dev.kvraft.proto.Watch};
   * {@code require_leader} is always set.
   */
  public Watcher watch(dev.kvraft.proto.Watch watch, WatchListener listener) {
    if (routes.isClosed()) {
      throw new UnavailableException("the client is closed", "");
    }
    var w = new Watcher(this, watch, listener);
    watchers.add(w);
    if (isClosed()) {
      w.clientClosed(); // close() may have run before it was in the set
    }
    return w.start();
  }

  // ---- raw calls ------------------------------------------------------------------------------

  /**
   * Sends one request (its id is set here) and waits for the answer, retrying what is safe to retry until the
   * timeout.
   *
   * @throws KvException when the server answered an error or no answer came in time
   */
  public Response call(Request.Builder request) {
    return calls.call(request);
  }

  /**
   * What a lost connection means for a request sent on it: a read is {@link UnavailableException} (safe to retry),
   * a write {@link KvTimeoutException} (it may or may not have been applied). {@link #call} retries the first and
   * throws the second; callers of {@link #callAsync} get the raw cause and can ask here.
   */
  public static KvException connectionLost(Request.Builder request, Throwable cause) {
    return Calls.connectionLost(request, cause);
  }

  /** Sends one request without waiting or retrying; for pipelining. The future fails on connection loss. */
  public CompletableFuture<Response> callAsync(Request.Builder request) {
    return calls.callAsync(request);
  }

  @Override
  public void close() {
    routes.close();
    keepAlives.forEach(KeepAlive::clientClosed);
    watchers.forEach(Watcher::clientClosed);
  }

  // ---- for Watcher and KeepAlive --------------------------------------------------------------

  /** Whether {@link #close} was called: watches and keep-alives end then. */
  boolean isClosed() {
    return routes.isClosed();
  }

  /** The connection to one node (opened and authenticated when needed), for a watch's stream. */
  Connection connectionTo(String address) throws IOException {
    return routes.connectionTo(address);
  }

  long nextId() {
    return calls.nextId();
  }

  /** A keep-alive's thread ended. */
  void ended(KeepAlive k) {
    keepAlives.remove(k);
  }

  /** A watch's thread ended. */
  void ended(Watcher w) {
    watchers.remove(w);
  }

  // ---- helpers --------------------------------------------------------------------------------

  public static ByteString utf8(String s) {
    return ByteString.copyFromUtf8(s);
  }

  /** The smallest key after every key that starts with {@code prefix}; empty means "to the end". */
  public static ByteString prefixEnd(ByteString prefix) {
    var bytes = prefix.toByteArray();
    for (int i = bytes.length - 1; i >= 0; i--) {
      if (bytes[i] != (byte) 0xff) {
        bytes[i]++;
        return ByteString.copyFrom(Arrays.copyOf(bytes, i + 1));
      }
    }
    return ByteString.EMPTY;
  }
}
