package dev.kvraft.cluster;

import dev.kvraft.client.KvClient;
import dev.kvraft.robust.Cluster;
import dev.kvraft.server.testing.Await;
import java.io.IOException;
import java.time.Duration;

/**
 * A three-process cluster whose n3 reaches n1 and n2, and they it, only through {@link SlowLink}s with no delay (plain
 * proxies): {@link #cut} cuts n3's Raft off both ways while its client port stays up. {@link #startWithN3Leading}
 * starts the three and hands leadership to n3. Closing closes the links (the cluster is the test's to close).
 */
final class N3BehindLinks implements AutoCloseable {
  private final Cluster cluster;
  private final SlowLink toN3;
  private final SlowLink n3ToN1;
  private final SlowLink n3ToN2;

  N3BehindLinks(Cluster cluster) throws IOException {
    this.cluster = cluster;
    this.toN3 = new SlowLink(cluster.node("n3").peerPort(), Duration.ZERO);
    this.n3ToN1 = new SlowLink(cluster.node("n1").peerPort(), Duration.ZERO);
    this.n3ToN2 = new SlowLink(cluster.node("n2").peerPort(), Duration.ZERO);
  }

  /**
   * Starts n1 and n2 (seeing n3 behind its link), then n3 (seeing each of them behind a link of its own) with
   * {@code n3Args} too, waits until all three serve, and makes n3 the leader.
   */
  void startWithN3Leading(Duration wait, String... n3Args) throws Exception {
    var n1 = cluster.node("n1");
    var n2 = cluster.node("n2");
    var n3 = cluster.node("n3");
    var majorityView = "--cluster=" + String.join(",", member(n1, n1.peerPort()), member(n2, n2.peerPort()),
        member(n3, toN3.port()));
    cluster.start("n1", majorityView);
    cluster.start("n2", majorityView);
    var args = new String[n3Args.length + 1];
    args[0] = "--cluster=" + String.join(",", member(n1, n3ToN1.port()), member(n2, n3ToN2.port()),
        member(n3, n3.peerPort()));
    System.arraycopy(n3Args, 0, args, 1, n3Args.length);
    cluster.start("n3", args);
    for (var id : cluster.ids()) {
      cluster.awaitServing(id, wait);
    }
    cluster.awaitLeader(wait);
    try (var admin = KvClient.builder().addresses(n1.clientAddress(), n2.clientAddress(), n3.clientAddress())
        .timeout(wait).build()) {
      admin.transferLeader("n3");
    }
    Await.until("n3 to lead", wait, () -> cluster.status("n3").map(s -> s.getRole().equals("LEADER"))
        .orElse(false));
  }

  /** n3's Raft is cut off from n1 and n2, both ways; its client port stays up. */
  void cut() {
    toN3.cut();
    n3ToN1.cut();
    n3ToN2.cut();
  }

  private static String member(Cluster.Node n, int peerPort) {
    return n.id() + "=" + n.host() + ":" + n.clientPort() + ":" + peerPort;
  }

  @Override
  public void close() {
    toN3.close();
    n3ToN1.close();
    n3ToN2.close();
  }
}
