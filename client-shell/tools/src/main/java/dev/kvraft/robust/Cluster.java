package dev.kvraft.robust;

import dev.kvraft.client.KvClient;
import dev.kvraft.proto.StatusResult;
import dev.kvraft.testkit.FreePorts;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * A kvraft cluster of real server processes, for fault injection: start, SIGKILL, SIGSTOP/SIGCONT, restart, and —
 * when the nodes run in network namespaces — cut a node off the network. Owned by the one thread that runs a
 * scenario; {@link #close()} kills every process it started and removes every namespace it made.
 *
 * <p>The servers run from {@code -Dkvraft.server.classpath} (set by {@code bin/kvraft-torture}), else from this
 * JVM's class path (the tests have the server on theirs).
 */
public final class Cluster implements AutoCloseable {
  /** One node: its id, the host it listens on, its ports, and its network namespace (or null on loopback). */
  public record Node(String id, String host, int clientPort, int peerPort, String namespace) {
    public String clientAddress() {
      return host + ":" + clientPort;
    }

    String member() {
      return id + "=" + memberAddress();
    }

    /** {@code host:clientPort:peerPort}, as {@code member add} takes it. */
    String memberAddress() {
      return host + ":" + clientPort + ":" + peerPort;
    }
  }

  private final Path dir;
  private final List<Node> nodes;
  private final Network network;
  private final Map<String, Process> processes = new LinkedHashMap<>();
  /** With TLS: where the nodes' certificates are, and the clients' files; else null. */
  private Path certificates;
  private dev.kvraft.proto.PemTls clientTls;
  /** How the suite's clients reach the cluster; gains TLS with withTls() and a user once auth is on. */
  private volatile Access access = Access.PLAIN;
  private boolean wantAuth;

  private Cluster(Path dir, List<Node> nodes, Network network) {
    this.dir = dir;
    this.nodes = List.copyOf(nodes);
    this.network = network;
  }

  /** Three nodes on 127.0.0.1, free ports. */
  public static Cluster onLoopback(Path dir, int size) {
    var ports = FreePorts.take(2 * size);
    var nodes = new ArrayList<Node>();
    for (int i = 0; i < size; i++) {
      nodes.add(new Node("n" + (i + 1), "127.0.0.1", ports.get(2 * i), ports.get(2 * i + 1), null));
    }
    return new Cluster(dir, nodes, null);
  }

  /** Nodes each in a network namespace of their own, joined by a bridge (see {@link Network}); needs root. */
  public static Cluster inNamespaces(Path dir, int size) throws IOException {
    var network = Network.create(size);
    var nodes = new ArrayList<Node>();
    for (int i = 0; i < size; i++) {
      nodes.add(new Node("n" + (i + 1), network.address(i), 7379, 7380, network.namespace(i)));
    }
    return new Cluster(dir, nodes, network);
  }

  /**
   * Runs every link over TLS (call before {@link #startAll}): makes a CA and a certificate per node (naming its id
   * and host) and one for the clients with openssl, under the cluster's directory.
   */
  public Cluster withTls() throws IOException, InterruptedException {
    var hosts = new LinkedHashMap<String, String>();
    nodes.forEach(n -> hosts.put(n.id(), n.host()));
    certificates = dir.resolve("tls");
    clientTls = Certificates.make(certificates, hosts);
    access = new Access(Optional.of(clientTls), access.user(), access.password());
    return this;
  }

  /** The clients' TLS files, when the cluster runs TLS. */
  public Optional<dev.kvraft.proto.PemTls> clientTls() {
    return Optional.ofNullable(clientTls);
  }

  /** A client builder for these addresses, with the cluster's TLS and user when it has them. */
  public KvClient.Builder client(String... addresses) {
    return access().client(addresses);
  }

  /** How clients reach this cluster: its TLS files, and its root user once {@link #withAuth} turned auth on. */
  public Access access() {
    return access;
  }

  /**
   * Turns auth on once the cluster runs (call before {@link #startAll}): {@code startAll} then adds a root user with
   * a random password, enables auth, and every client of the suite authenticates as root from then on.
   */
  public Cluster withAuth() {
    wantAuth = true;
    return this;
  }

  private void enableAuth(Duration timeout) throws IOException {
    var password = java.util.HexFormat.of().toHexDigits(java.util.concurrent.ThreadLocalRandom.current().nextLong());
    try (var c = client(addresses().toArray(String[]::new)).timeout(timeout).build()) {
      c.authChange(dev.kvraft.proto.AuthChange.newBuilder()
          .setAction(dev.kvraft.proto.AuthChange.Action.USER_ADD).setName("root").setPassword(password));
      c.authChange(dev.kvraft.proto.AuthChange.newBuilder()
          .setAction(dev.kvraft.proto.AuthChange.Action.USER_GRANT_ROLE).setName("root").setRole("root"));
      c.authChange(dev.kvraft.proto.AuthChange.newBuilder().setAction(dev.kvraft.proto.AuthChange.Action.AUTH_ENABLE));
    } catch (RuntimeException e) {
      throw new IOException("turning auth on failed: " + e.getMessage(), e);
    }
    access = access.withUser("root", password);
  }

  public boolean partitionable() {
    return network != null;
  }

  public List<Node> nodes() {
    return nodes;
  }

  public Node node(String id) {
    return nodes.stream().filter(n -> n.id().equals(id)).findFirst()
        .orElseThrow(() -> new IllegalArgumentException("no node " + id));
  }

  public List<String> ids() {
    return nodes.stream().map(Node::id).toList();
  }

  /** The client address of one node. */
  public String address(String id) {
    return node(id).clientAddress();
  }

  public List<String> addresses() {
    return nodes.stream().map(Node::clientAddress).toList();
  }

  /** Starts every node and returns once all of them serve and have applied a first write ({@link #awaitReady}). */
  public Cluster startAll() throws IOException, InterruptedException {
    for (var n : nodes) {
      start(n.id());
    }
    for (var n : nodes) {
      awaitServing(n.id(), Duration.ofSeconds(90));
    }
    awaitReady(Duration.ofSeconds(60));
    if (wantAuth) {
      enableAuth(Duration.ofSeconds(60));
    }
    return this;
  }

  /**
   * Writes the key {@code robust/ready} and waits until every node has applied it: the rounds' faults are for a
   * running cluster (a fault in a cluster's first moments is FirstLeaderCutOffTest's subject).
   */
  public void awaitReady(Duration timeout) throws IOException, InterruptedException {
    long revision;
    try (var c = client(addresses().toArray(String[]::new)).timeout(timeout).build()) {
      revision = c.put("robust/ready", "1");
    } catch (RuntimeException e) {
      throw new IOException("the cluster took no first write within " + timeout + ": " + e.getMessage(), e);
    }
    long deadline = System.nanoTime() + timeout.toNanos();
    for (var n : nodes) {
      while (status(n.id()).map(s -> s.getRevision()).orElse(-1L) < revision) {
        if (System.nanoTime() > deadline) {
          throw new IOException("node " + n.id() + " did not apply the first write within " + timeout
              + "; its log:\n" + log(n.id()));
        }
        Thread.sleep(50);
      }
    }
  }

  public void start(String id) throws IOException {
    start(id, false);
  }

  /** Starts node {@code id} with extra server arguments (such as {@code --restore=FILE}) for this start only. */
  public void start(String id, String... extraArgs) throws IOException {
    start(id, false, extraArgs);
  }

  /**
   * Replaces node {@code id} the way an operator replaces a dead host: {@code member remove} (the node exits 0 by
   * itself), its data wiped, the node started empty with {@code --join}, {@code member add}. The workload goes on.
   */
  public void replace(String id, Duration timeout) throws IOException, InterruptedException {
    replace(id, false, timeout);
  }

  /** As {@link #replace(String, Duration)}; with {@code killFirst}, the node is SIGKILLed first (a dead host). */
  public void replace(String id, boolean killFirst, Duration timeout) throws IOException, InterruptedException {
    var n = node(id);
    if (killFirst) {
      kill(id);
    }
    try (var c = client(addresses().toArray(String[]::new)).timeout(timeout).build()) {
      c.memberRemove(id);
    } catch (RuntimeException e) {
      throw new IOException("member remove " + id + " failed: " + e.getMessage(), e);
    }
    var p = killFirst ? null : processes.get(id);
    if (p != null) {
      if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
        throw new IOException("node " + id + " did not exit after it was removed; its log:\n" + log(id));
      }
      if (p.exitValue() != 0) {
        throw new IOException("node " + id + " exited " + p.exitValue() + " after it was removed (0 expected)");
      }
    }
    rejoin(id);
    try (var c = client(addresses().toArray(String[]::new)).timeout(timeout).build()) {
      c.memberAdd(id, n.memberAddress(), false);
    } catch (RuntimeException e) {
      throw new IOException("member add " + id + " failed: " + e.getMessage(), e);
    }
  }

  /** Wipes a removed node's data and starts it empty with {@code --join}; returns once it serves. */
  public void rejoin(String id) throws IOException, InterruptedException {
    deleteTree(dir.resolve(id));
    start(id, true);
    awaitServing(id, Duration.ofSeconds(90));
  }

  /**
   * {@code member remove} as an operator does it while other faults strike: a call that fails (its leader killed,
   * no quorum for a while) is tried again until the membership, read back, no longer lists the node. A live node then
   * exits by itself once it learns of its removal; one that has not within {@code timeout} is SIGKILLed (the operator
   * stops the service), and that is returned as a remark, not a failure: a node cut off from the commit that removed
   * it cannot learn of it.
   *
   * @return what happened that an operator would notice, or empty
   * @throws IOException when the node is still a member at {@code timeout}
   */
  public Optional<String> removeRetrying(String id, Duration timeout) throws IOException, InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    retryChange("member remove", id, timeout, Duration.ofSeconds(5), Optional::isEmpty,
        (c, member) -> c.memberRemove(id));
    var p = processes.get(id);
    if (p == null || !p.isAlive()) {
      return Optional.empty();
    }
    if (p.waitFor(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
      return p.exitValue() == 0 ? Optional.empty()
          : Optional.of("node " + id + " exited " + p.exitValue() + " after it was removed (0 expected)");
    }
    kill(id);
    return Optional.of("node " + id + " did not exit within " + timeout + " of its removal; SIGKILLed");
  }

  /** {@link #removeRetrying} on a thread of its own, {@code robust-remove-ID}. */
  public java.util.concurrent.Future<Optional<String>> removeRetryingAsync(String id, Duration timeout) {
    var task = new java.util.concurrent.FutureTask<>(() -> removeRetrying(id, timeout));
    Thread.ofPlatform().name("robust-remove-" + id).daemon().start(task);
    return task;
  }

  /** {@link #addRetrying} on a thread of its own, {@code robust-add-ID}. */
  public java.util.concurrent.Future<Void> addRetryingAsync(String id, Duration timeout) {
    var task = new java.util.concurrent.FutureTask<Void>(() -> {
      addRetrying(id, timeout);
      return null;
    });
    Thread.ofPlatform().name("robust-add-" + id).daemon().start(task);
    return task;
  }

  /**
   * {@code member add} as an operator does it while other faults strike: tried again until the membership, read back,
   * lists the node as a voter; a node left a learner by an add cut short is promoted.
   *
   * @throws IOException when the node is not a voter at {@code timeout}
   */
  public void addRetrying(String id, Duration timeout) throws IOException, InterruptedException {
    retryChange("member add", id, timeout, Duration.ofSeconds(10),
        member -> member.isPresent() && !member.get().getLearner(), (c, member) -> {
          if (member.isPresent()) {
            c.memberPromote(id);
          } else {
            c.memberAdd(id, node(id).memberAddress(), false);
          }
        });
  }

  /** One try of a membership change, given the node's membership as last read (empty: not a member). */
  private interface Change {
    void send(KvClient client, Optional<dev.kvraft.proto.Member> member);
  }

  /**
   * Reads node {@code id}'s membership until {@code done} says the change took, sending {@code change} (each call
   * given {@code callTimeout}) after each read that says it has not; a failed send waits 200 ms, and a read that
   * finds no leader counts as not yet.
   *
   * @throws IOException when it has not taken at {@code timeout}, with the last failure
   */
  private void retryChange(String what, String id, Duration timeout, Duration callTimeout,
      java.util.function.Predicate<Optional<dev.kvraft.proto.Member>> done, Change change)
      throws IOException, InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    String last = "";
    while (true) {
      Optional<dev.kvraft.proto.Member> member = Optional.empty();
      try {
        member = membership(id);
        if (done.test(member)) {
          return;
        }
      } catch (IOException e) {
        last = e.getMessage();
      }
      if (System.nanoTime() > deadline) {
        throw new IOException(what + " " + id + " did not take within " + timeout + ": " + last);
      }
      try (var c = client(addresses().toArray(String[]::new)).timeout(callTimeout).build()) {
        change.send(c, member);
      } catch (RuntimeException e) {
        last = e.getMessage();
        Thread.sleep(200);
      }
    }
  }

  /**
   * Node {@code id} in the membership as the current leader reports it; empty when it is not a member.
   *
   * @throws IOException when no leader answers
   */
  private Optional<dev.kvraft.proto.Member> membership(String id) throws IOException, InterruptedException {
    try {
      var leader = awaitLeader(Duration.ofSeconds(10));
      try (var c = client(node(leader).clientAddress()).discoverMembers(false).timeout(Duration.ofSeconds(5))
          .build()) {
        return c.members().getMembersList().stream().filter(m -> m.getId().equals(id)).findFirst();
      }
    } catch (RuntimeException e) {
      throw new IOException("could not read the membership: " + e.getMessage(), e);
    }
  }

  private static void deleteTree(Path root) throws IOException {
    if (!Files.exists(root)) {
      return;
    }
    try (var files = Files.walk(root)) {
      for (var f : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
        Files.delete(f);
      }
    }
  }

  private void start(String id, boolean join, String... extraArgs) throws IOException {
    var n = node(id);
    var java = ProcessHandle.current().info().command().orElse("java");
    var cmd = new ArrayList<String>();
    if (n.namespace() != null) {
      cmd.addAll(List.of("ip", "netns", "exec", n.namespace()));
    }
    cmd.addAll(List.of(java, "--enable-native-access=ALL-UNNAMED", "-Xmx512m", "-XX:+UseSerialGC"));
    if (Runtime.version().feature() >= 23) {
      cmd.add("--sun-misc-unsafe-memory-access=allow");
    }
    cmd.addAll(List.of("-cp", System.getProperty("kvraft.server.classpath", System.getProperty("java.class.path")),
        "dev.kvraft.server.Main",
        "--node.id=" + n.id(),
        "--cluster=" + String.join(",", nodes.stream().map(Node::member).toList()),
        "--data.dir=" + dir.resolve(n.id()),
        "--raft.election.timeout.min.ms=500", "--raft.election.timeout.max.ms=1000",
        "--snapshot.threshold=500"));
    if (certificates != null) {
      cmd.addAll(Certificates.serverArgs(certificates, n.id()));
    }
    if (join) {
      cmd.add("--join=true");
    }
    cmd.addAll(List.of(extraArgs));
    if (n.namespace() == null) {
      // On shared loopback, client port + 2 (the default) may be another node's port: let the OS choose.
      cmd.add("--metrics.address=127.0.0.1:0");
    }
    Files.createDirectories(dir);
    var p = new ProcessBuilder(cmd).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve(n.id() + ".log").toFile())).start();
    processes.put(id, p);
  }

  public void awaitServing(String id, Duration timeout) throws IOException, InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline) {
      if (!isAlive(id)) {
        throw new IOException("node " + id + " exited; its log:\n" + log(id));
      }
      if (status(id).isPresent()) {
        return;
      }
      Thread.sleep(50);
    }
    throw new IOException("node " + id + " did not serve within " + timeout + "; its log:\n" + log(id));
  }

  /** The exit status of node {@code id}'s process, which has ended. */
  public int exitValue(String id) {
    return processes.get(id).exitValue();
  }

  public boolean isAlive(String id) {
    var p = processes.get(id);
    return p != null && p.isAlive();
  }

  /** SIGKILL, and wait for the process to be gone. */
  public void kill(String id) throws InterruptedException {
    var p = processes.get(id);
    if (p != null) {
      p.destroyForcibly();
      p.waitFor(10, TimeUnit.SECONDS);
    }
  }

  /** SIGSTOP: the process freezes, its sockets stay open. */
  public void pause(String id) throws IOException, InterruptedException {
    signal(id, "STOP");
  }

  public void resume(String id) throws IOException, InterruptedException {
    signal(id, "CONT");
  }

  private void signal(String id, String sig) throws IOException, InterruptedException {
    var p = processes.get(id);
    var kill = new ProcessBuilder("kill", "-" + sig, Long.toString(p.pid())).start();
    if (kill.waitFor() != 0) {
      throw new IOException("kill -" + sig + " " + id + " failed");
    }
  }

  /** Cuts the node off the network (namespaces only): its peers and clients cannot reach it, nor it them. */
  public void isolate(String id) throws IOException {
    requireNetwork().cut(nodes.indexOf(node(id)));
  }

  /**
   * Cuts the link between two nodes only (namespaces only): neither reaches the other, both still reach the third
   * node and the clients. Undone by {@link #heal}.
   */
  public void cutBetween(String a, String b) throws IOException {
    requireNetwork().cutBetween(nodes.indexOf(node(a)), nodes.indexOf(node(b)));
  }

  public void heal() throws IOException {
    if (network != null) {
      network.healAll();
    }
  }

  private Network requireNetwork() {
    if (network == null) {
      throw new IllegalStateException("partitions need the nodes in network namespaces");
    }
    return network;
  }

  public void restart(String id) throws IOException, InterruptedException {
    kill(id);
    start(id);
    awaitServing(id, Duration.ofSeconds(90));
  }

  /** The node's Status, or empty when it does not answer within a second. */
  public Optional<StatusResult> status(String id) {
    try (var c = client(node(id).clientAddress()).discoverMembers(false)
        .connectTimeout(Duration.ofMillis(500)).timeout(Duration.ofSeconds(1)).build()) {
      return Optional.of(c.status());
    } catch (RuntimeException e) {
      return Optional.empty();
    }
  }

  /** The id of a node that says it leads, waiting for an election if needed. */
  public String awaitLeader(Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline) {
      for (var n : nodes) {
        if (isAlive(n.id()) && status(n.id()).map(s -> s.getRole().equals("LEADER")).orElse(false)) {
          return n.id();
        }
      }
      Thread.sleep(50);
    }
    throw new IllegalStateException("no leader within " + timeout);
  }

  public String log(String id) {
    try {
      return Files.readString(dir.resolve(id + ".log"));
    } catch (IOException e) {
      return "(no log: " + e.getMessage() + ")";
    }
  }

  @Override
  public void close() {
    for (var id : processes.keySet()) {
      try {
        resume(id);
      } catch (IOException | InterruptedException | RuntimeException ignored) {
        // it may be gone already
      }
      try {
        kill(id);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    if (network != null) {
      network.close();
    }
  }
}
