package dev.kvraft.server;

import java.io.IOException;
import java.net.DatagramPacket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.newsclub.net.unix.AFUNIXDatagramSocket;
import org.newsclub.net.unix.AFUNIXSocketAddress;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Tells systemd the truth about this node ({@code sd_notify}): {@code READY=1} once clients can connect and Raft
 * runs, {@code STOPPING=1} when a stop begins, {@code STATUS=...} lines in between. It sends datagrams to
 * {@code $NOTIFY_SOCKET} (a path, or {@code @name} in the abstract namespace) with junixsocket, because the JDK
 * cannot send AF_UNIX datagrams. Without {@code $NOTIFY_SOCKET} every call does nothing.
 *
 * <p>Thread-safe: each message is one datagram on its own socket.
 */
public final class SystemdNotifier {
  private static final Logger LOG = LoggerFactory.getLogger(SystemdNotifier.class);
  private final String socket;
  private volatile boolean warned;

  private SystemdNotifier(String socket) {
    this.socket = socket;
  }

  public static SystemdNotifier fromEnvironment() {
    var s = System.getenv("NOTIFY_SOCKET");
    return new SystemdNotifier(s == null || s.isBlank() ? null : s);
  }

  public boolean enabled() {
    return socket != null;
  }

  public void ready(String status) {
    send("READY=1\nSTATUS=" + status + "\nMAINPID=" + ProcessHandle.current().pid());
  }

  public void stopping() {
    send("STOPPING=1\nSTATUS=stopping");
  }

  public void status(String status) {
    send("STATUS=" + status);
  }

  private void send(String message) {
    if (socket == null) {
      return;
    }
    try (var s = AFUNIXDatagramSocket.newInstance()) {
      var address = socket.startsWith("@")
          ? AFUNIXSocketAddress.inAbstractNamespace(socket.substring(1))
          : AFUNIXSocketAddress.of(Path.of(socket));
      var bytes = message.getBytes(StandardCharsets.UTF_8);
      s.connect(address);
      s.send(new DatagramPacket(bytes, bytes.length));
    } catch (IOException | RuntimeException | LinkageError e) {
      if (!warned) {
        warned = true;
        LOG.warn("cannot notify systemd at NOTIFY_SOCKET={}: {}; with Type=notify systemd will time the start"
            + " out", socket, e.toString());
      }
    }
  }
}
