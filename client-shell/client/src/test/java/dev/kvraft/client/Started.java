package dev.kvraft.client;

import dev.kvraft.server.KvraftServer;
import dev.kvraft.server.config.ServerConfig;
import dev.kvraft.server.testing.TestNodes;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * What one test started: its servers, and its clients and watchers, all closed by {@link #close} (the clients and
 * watchers first, newest first, then the servers), which the test's {@code @AfterEach} calls.
 */
final class Started implements AutoCloseable {
  /** The servers, in the order started; a test that restarts one replaces it here. */
  final List<KvraftServer> servers = new ArrayList<>();
  private final List<AutoCloseable> closing = new ArrayList<>();

  KvraftServer server(ServerConfig config) throws Exception {
    var s = KvraftServer.start(config);
    servers.add(s);
    return s;
  }

  /** Starts an n-node cluster in {@code dir}. */
  List<KvraftServer> cluster(Path dir, int n, Map<String, String> settings) throws Exception {
    var started = new ArrayList<KvraftServer>();
    for (var cfg : TestNodes.cluster(dir, n, settings)) {
      started.add(server(cfg));
    }
    return started;
  }

  /** Starts a single-node server in {@code dir} and returns a client of it. */
  KvClient single(Path dir, Map<String, String> settings) throws Exception {
    var s = server(TestNodes.single(dir, settings));
    return closing(KvClient.connect(address(s)));
  }

  /** A client of exactly these addresses (no member discovery). */
  KvClient client(String... addresses) {
    return closing(KvClient.builder().addresses(addresses).discoverMembers(false).build());
  }

  /** Closes {@code c} at the end of the test. */
  <T extends AutoCloseable> T closing(T c) {
    closing.add(c);
    return c;
  }

  static String address(KvraftServer s) {
    return "127.0.0.1:" + s.clientPort();
  }

  /** Closes everything, even past a failure; the first failure is thrown, with the others suppressed. */
  @Override
  public void close() throws Exception {
    Exception failed = null;
    var all = new ArrayList<AutoCloseable>(closing.reversed());
    all.addAll(servers);
    for (var c : all) {
      try {
        c.close();
      } catch (Exception e) {
        if (failed == null) {
          failed = e;
        } else {
          failed.addSuppressed(e);
        }
      }
    }
    if (failed != null) {
      throw failed;
    }
  }
}
