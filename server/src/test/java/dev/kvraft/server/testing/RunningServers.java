package dev.kvraft.server.testing;

import dev.kvraft.server.KvraftServer;
import dev.kvraft.server.config.ServerConfig;
import java.io.IOException;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * The in-JVM servers a test starts, closed after each test:
 * {@code @RegisterExtension final RunningServers servers = new RunningServers();}. It owns every server started
 * through {@link #start} until the test takes one out with {@link #remove} (to close and restart it itself), and
 * closes the rest after each test, in the order they started, every one even when a close throws (then the first
 * error is rethrown with the others suppressed). A class that keeps its servers for all its tests holds one as a
 * plain field and calls {@link #close} in its {@code @AfterAll}.
 *
 * <p>{@link #start}, {@link #remove} and {@link #close} run on the test's thread; {@link #list} is a live read-only
 * view that other threads of the test (a writer, a poll) may read at any time (the list is copy-on-write).
 */
public final class RunningServers implements AfterEachCallback, AutoCloseable {
  private final List<KvraftServer> servers = new CopyOnWriteArrayList<>();

  /** Starts a server and keeps it, to be closed after the test. */
  public KvraftServer start(ServerConfig config) throws IOException {
    var s = KvraftServer.start(config);
    servers.add(s);
    return s;
  }

  /** Lets go of a server without closing it: the test closes it (or has closed it) itself. */
  public void remove(KvraftServer server) {
    servers.remove(server);
  }

  /** The servers kept, in the order they started: a live, read-only view. */
  public List<KvraftServer> list() {
    return Collections.unmodifiableList(servers);
  }

  @Override
  public void afterEach(ExtensionContext context) {
    close();
  }

  /** Closes every server kept and forgets them; the first close that throws is rethrown once all are closed. */
  @Override
  public void close() {
    var all = List.copyOf(servers);
    servers.clear();
    Throwable first = null;
    for (var s : all) {
      try {
        s.close();
      } catch (RuntimeException | Error e) {
        if (first == null) {
          first = e;
        } else {
          first.addSuppressed(e);
        }
      }
    }
    if (first instanceof RuntimeException e) {
      throw e;
    }
    if (first instanceof Error e) {
      throw e;
    }
  }
}
