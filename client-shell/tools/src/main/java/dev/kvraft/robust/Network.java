package dev.kvraft.robust;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * The test's own little network: one Linux network namespace per node, each joined by a veth pair to a bridge in
 * this (the root) namespace, which also has an address on it so that the clients here reach every node. Cutting a
 * node means taking its veth's bridge end down: its peers and the clients lose it, and it loses them. Cutting the
 * link between two nodes only adds a blackhole route to the other's address in each of their namespaces: each drops
 * what it would send the other (TCP sees a dead link both ways), and both still reach the third node and the clients.
 *
 * <p>Addresses are 10.213.R.1.. for the nodes and 10.213.R.254 for this side, R random per run: only our own
 * namespaces, made and removed by this class (needs root and the {@code ip} tool).
 */
final class Network implements AutoCloseable {
  private final String id;
  private final int subnet;
  private final int size;
  private final List<String> created = new ArrayList<>();
  /** Blackhole routes in place, as {@code {from, to}} node indexes. */
  private final List<int[]> blackholes = new ArrayList<>();

  private Network(String id, int subnet, int size) {
    this.id = id;
    this.subnet = subnet;
    this.size = size;
  }

  /**
   * Makes the namespaces, veth pairs and bridge.
   *
   * @throws IOException saying why when it cannot (not root, no {@code ip}, no bridge support), with nothing left
   */
  static Network create(int size) throws IOException {
    var id = HexFormat.of().toHexDigits((short) ThreadLocalRandom.current().nextInt());
    var n = new Network(id, ThreadLocalRandom.current().nextInt(1, 250), size);
    try {
      n.build();
      return n;
    } catch (IOException e) {
      n.close();
      throw e;
    }
  }

  String namespace(int i) {
    return "kvr" + id + "n" + i;
  }

  String address(int i) {
    return "10.213." + subnet + "." + (i + 1);
  }

  private String bridge() {
    return "kvb" + id;
  }

  private String hostEnd(int i) {
    return "kvh" + id + i;
  }

  private String nodeEnd(int i) {
    return "kvn" + id + i;
  }

  private void build() throws IOException {
    ip("link", "add", "name", bridge(), "type", "bridge");
    created.add("link:" + bridge());
    ip("addr", "add", "10.213." + subnet + ".254/24", "dev", bridge());
    ip("link", "set", bridge(), "up");
    for (int i = 0; i < size; i++) {
      ip("netns", "add", namespace(i));
      created.add("netns:" + namespace(i));
      ip("link", "add", hostEnd(i), "type", "veth", "peer", "name", nodeEnd(i));
      created.add("link:" + hostEnd(i));
      ip("link", "set", nodeEnd(i), "netns", namespace(i));
      ip("link", "set", hostEnd(i), "master", bridge());
      ip("link", "set", hostEnd(i), "up");
      ip("netns", "exec", namespace(i), "ip", "link", "set", "lo", "up");
      ip("netns", "exec", namespace(i), "ip", "addr", "add", address(i) + "/24", "dev", nodeEnd(i));
      ip("netns", "exec", namespace(i), "ip", "link", "set", nodeEnd(i), "up");
    }
  }

  void cut(int i) throws IOException {
    ip("link", "set", hostEnd(i), "down");
  }

  /** Cuts the link between nodes {@code i} and {@code j} only; each still reaches every other node and the clients. */
  void cutBetween(int i, int j) throws IOException {
    blackhole(i, j);
    blackhole(j, i);
  }

  private void blackhole(int from, int to) throws IOException {
    ip("netns", "exec", namespace(from), "ip", "route", "add", "blackhole", address(to) + "/32");
    blackholes.add(new int[] {from, to});
  }

  void healAll() throws IOException {
    for (int i = 0; i < size; i++) {
      ip("link", "set", hostEnd(i), "up");
    }
    while (!blackholes.isEmpty()) {
      var b = blackholes.getLast();
      ip("netns", "exec", namespace(b[0]), "ip", "route", "del", "blackhole", address(b[1]) + "/32");
      blackholes.removeLast();
    }
  }

  @Override
  public void close() {
    for (int k = created.size() - 1; k >= 0; k--) {
      var what = created.get(k);
      try {
        if (what.startsWith("netns:")) {
          ip("netns", "del", what.substring(6));
        } else {
          ip("link", "del", what.substring(5));
        }
      } catch (IOException ignored) {
        // gone with its namespace already, or never made
      }
    }
    created.clear();
  }

  private static void ip(String... args) throws IOException {
    var cmd = new ArrayList<String>();
    cmd.add("ip");
    cmd.addAll(List.of(args));
    Process p;
    try {
      p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    } catch (IOException e) {
      throw new IOException("network namespaces need the 'ip' tool (apt-get install -y iproute2): " + e.getMessage());
    }
    try {
      var out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
      if (!p.waitFor(20, TimeUnit.SECONDS) || p.exitValue() != 0) {
        throw new IOException("'" + String.join(" ", cmd) + "' failed: " + out
            + " (network namespaces need root and a kernel that allows them)");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted: " + String.join(" ", cmd));
    }
  }
}
