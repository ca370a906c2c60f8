package dev.kvraft.testkit;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Free loopback ports for tests: bound, noted, released, and chosen outside the kernel's ephemeral range. A port from
 * that range can be taken as the local port of an outgoing connection (a node's own link to a peer that is not
 * listening yet) before the node binds it, which failed a node's start now and then ("Failed to start
 * NettyRpcService"). Another process could still take one in between; rare enough.
 */
public final class FreePorts {
  private FreePorts() {}

  public static List<Integer> take(int n) {
    int[] ephemeral = ephemeralRange();
    var sockets = new ArrayList<ServerSocket>();
    try {
      var ports = new ArrayList<Integer>();
      for (int tries = 0; ports.size() < n; tries++) {
        if (tries > 10_000) {
          throw new IllegalStateException("no " + n + " free loopback ports outside " + ephemeral[0] + "-"
              + ephemeral[1]);
        }
        int port = ThreadLocalRandom.current().nextInt(10_000, 65_536);
        if ((port >= ephemeral[0] && port <= ephemeral[1]) || ports.contains(port)) {
          continue;
        }
        try {
          sockets.add(new ServerSocket(port, 1, InetAddress.getLoopbackAddress()));
          ports.add(port);
        } catch (IOException taken) {
          // in use: try another
        }
      }
      return ports;
    } finally {
      for (var s : sockets) {
        try {
          s.close();
        } catch (IOException ignored) {
          // best effort
        }
      }
    }
  }

  /** The kernel's ephemeral port range (Linux), or Linux's default when it cannot be read. */
  private static int[] ephemeralRange() {
    try {
      var parts = Files.readString(Path.of("/proc/sys/net/ipv4/ip_local_port_range")).trim().split("\\s+");
      return new int[] {Integer.parseInt(parts[0]), Integer.parseInt(parts[1])};
    } catch (IOException | RuntimeException e) {
      return new int[] {32_768, 60_999};
    }
  }
}
