package dev.kvraft.server.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.ArrayList;
import java.util.List;

/** Free loopback ports for tests: bound, noted, released. Another process could take one in between; rare enough. */
public final class FreePorts {
  private FreePorts() {}

  public static List<Integer> take(int n) {
    var sockets = new ArrayList<ServerSocket>();
    try {
      var ports = new ArrayList<Integer>();
      for (int i = 0; i < n; i++) {
        var s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
        sockets.add(s);
        ports.add(s.getLocalPort());
      }
      return ports;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
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
}
