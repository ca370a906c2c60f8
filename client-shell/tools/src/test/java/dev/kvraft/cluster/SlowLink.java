package dev.kvraft.cluster;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Arrays;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.DelayQueue;
import java.util.concurrent.Delayed;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A TCP proxy on loopback that delivers every byte {@code delay} late in both directions, and can be cut and
 * healed. It makes one Raft link slow enough that a test can cut it between a message being sent and it arriving.
 * A cut link behaves like a pulled cable, not a closed port: connections stay open, bytes in flight and every byte
 * sent afterwards vanish, new connections are accepted and go nowhere, so the sender's calls time out. Healing
 * closes those dead connections; new ones get through. Threads: one accept thread, and per connection a reader and
 * a writer for each direction, all virtual; {@link #close} ends them. It also counts the reads from the connecting
 * side (the requests: a Raft RPC client sends through the link it dialled), cut or not, so that a test can tell when
 * the last request left its sender.
 */
final class SlowLink implements AutoCloseable {
  private final ServerSocket server;
  private final InetSocketAddress target;
  private final long delayNanos;
  private final Set<Socket> open = ConcurrentHashMap.newKeySet();
  private volatile boolean cut;
  private final AtomicLong requestReads = new AtomicLong();
  private volatile long lastRequestNanos;

  private record Chunk(byte[] bytes, long due) implements Delayed {
    @Override
    public long getDelay(TimeUnit unit) {
      return unit.convert(due - System.nanoTime(), TimeUnit.NANOSECONDS);
    }

    @Override
    public int compareTo(Delayed o) {
      return Long.compare(due, ((Chunk) o).due);
    }
  }

  SlowLink(int targetPort, java.time.Duration delay) throws IOException {
    this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    this.target = new InetSocketAddress(InetAddress.getLoopbackAddress(), targetPort);
    this.delayNanos = delay.toNanos();
    Thread.ofVirtual().name("slow-link-accept-" + port()).start(this::accept);
  }

  int port() {
    return server.getLocalPort();
  }

  /** From now on nothing gets through, in flight or sent later, until {@link #heal}. */
  void cut() {
    cut = true;
  }

  /** How many reads from the connecting side so far (cut or not): it grows each time a request goes out. */
  long requestReads() {
    return requestReads.get();
  }

  /** When ({@link System#nanoTime}) the last of those reads happened. */
  long lastRequestNanos() {
    return lastRequestNanos;
  }

  private void requestRead() {
    lastRequestNanos = System.nanoTime();
    requestReads.incrementAndGet();
  }

  /** Closes the connections that went dead while cut; new ones get through. */
  void heal() {
    cut = false;
    open.forEach(SlowLink::closeQuietly);
    open.clear();
  }

  private void accept() {
    while (!server.isClosed()) {
      try {
        var in = server.accept();
        open.add(in);
        if (cut) {
          swallow(in);
          continue;
        }
        var out = new Socket();
        try {
          out.connect(target, 1000);
        } catch (IOException e) {
          in.close();
          continue;
        }
        open.add(out);
        pump(in, out, true);
        pump(out, in, false);
      } catch (IOException e) {
        // closed
      }
    }
  }

  /** A connection made while cut: read and drop everything, answer nothing. */
  private void swallow(Socket s) {
    Thread.ofVirtual().start(() -> {
      try (s) {
        var in = s.getInputStream();
        var buf = new byte[64 * 1024];
        while (in.read(buf) > 0) {
          requestRead();
        }
      } catch (IOException e) {
        // closed by heal()
      }
    });
  }

  private void pump(Socket from, Socket to, boolean requests) throws IOException {
    var queue = new DelayQueue<Chunk>();
    InputStream in = from.getInputStream();
    OutputStream out = to.getOutputStream();
    Thread.ofVirtual().start(() -> {
      var buf = new byte[64 * 1024];
      try {
        for (int n; (n = in.read(buf)) > 0; ) {
          if (requests) {
            requestRead();
          }
          queue.add(new Chunk(Arrays.copyOf(buf, n), System.nanoTime() + delayNanos));
        }
      } catch (IOException e) {
        // closed
      } finally {
        queue.add(new Chunk(new byte[0], System.nanoTime() + delayNanos));
      }
    });
    Thread.ofVirtual().start(() -> {
      try {
        while (true) {
          var c = queue.take();
          if (c.bytes().length == 0) {
            break;
          }
          if (cut) {
            continue; // vanishes, like a packet on a pulled cable
          }
          out.write(c.bytes());
          out.flush();
        }
      } catch (IOException | InterruptedException e) {
        // closed
      } finally {
        closeQuietly(from);
        closeQuietly(to);
      }
    });
  }

  private static void closeQuietly(Socket s) {
    try {
      s.close();
    } catch (IOException ignored) {
      // closing
    }
  }

  @Override
  public void close() {
    closeQuietly(server);
    heal();
  }

  private static void closeQuietly(ServerSocket s) {
    try {
      s.close();
    } catch (IOException ignored) {
      // closing
    }
  }
}
