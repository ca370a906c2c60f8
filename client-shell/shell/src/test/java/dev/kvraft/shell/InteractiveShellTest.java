package dev.kvraft.shell;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvraft.client.KvClient;
import dev.kvraft.server.testing.RunningServers;
import dev.kvraft.server.testing.TestNodes;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * kvsh in a real terminal: tmux runs it, send-keys types, capture-pane reads the screen. Needs tmux
 * (apt-get install -y tmux; .ci/run installs it).
 */
@Timeout(180)
@Tag("slow") // processes, clusters or external tools: not in bin/test --fast
class InteractiveShellTest {
  private static final Duration WAIT = Duration.ofSeconds(30);

  @TempDir
  Path dir;
  @RegisterExtension
  final RunningServers servers = new RunningServers();
  String session;

  @BeforeEach
  void start() throws Exception {
    for (var c : TestNodes.cluster(dir.resolve("data"), 3, Map.of())) {
      servers.start(c);
    }
    try (var c = KvClient.connect(servers.list().get(0).config().self().clientAddress())) {
      c.put("user/alice", "A");
      c.put("user/bob", "B");
    }
    session = "kvsh-test-" + ProcessHandle.current().pid() + "-" + System.nanoTime();
  }

  @AfterEach
  void stop() throws Exception {
    tmux("kill-session", "-t", session);
  }

  /**
   * A tmux server of this JVM's own: another test run on the machine (another clone's suite) then cannot end it
   * under us, as it can end the shared default server when its own last session closes.
   */
  private static final String SOCKET = "kvraft-test-" + ProcessHandle.current().pid();

  private static String tmux(String... args) throws IOException, InterruptedException {
    var cmd = new ArrayList<>(List.of("tmux", "-L", SOCKET));
    cmd.addAll(List.of(args));
    Process p;
    try {
      p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    } catch (IOException e) {
      throw new IOException("tmux is needed for this test: apt-get install -y tmux", e);
    }
    var out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    p.waitFor(10, TimeUnit.SECONDS);
    return out;
  }

  /** Starts kvsh in a fresh tmux session, the history in {@code history}. */
  private void kvsh(Path history, String address) throws Exception {
    var java = ProcessHandle.current().info().command().orElse("java");
    var script = dir.resolve("kvsh.sh");
    Files.writeString(script, "#!/bin/sh\nexport KVSH_HISTORY='" + history + "'\nexport KVSH_STDIN_TTY=1\n"
        + "exec '" + java + "' --enable-native-access=ALL-UNNAMED"
        + (Runtime.version().feature() >= 23 ? " --sun-misc-unsafe-memory-access=allow" : "") + " -cp '" + System.getProperty("java.class.path") + "' dev.kvraft.shell.Kvsh --address "
        + address + "\n");
    script.toFile().setExecutable(true);
    tmux("kill-session", "-t", session);
    tmux("new-session", "-d", "-s", session, "-x", "160", "-y", "40", script.toString());
    screen(s -> lastLine(s).endsWith(">"), "the prompt");
  }

  private void type(String... keys) throws Exception {
    var args = new ArrayList<>(List.of("send-keys", "-t", session));
    args.addAll(List.of(keys));
    tmux(args.toArray(String[]::new));
  }

  /** Polls the screen until it satisfies {@code ok}, or fails naming {@code what} and showing the screen. */
  private String screen(Predicate<String> ok, String what) throws Exception {
    return dev.kvraft.server.testing.Await.until("the screen to show " + what, WAIT,
        () -> tmux("capture-pane", "-p", "-t", session), ok);
  }

  private static String lastLine(String screen) {
    var lines = screen.lines().filter(l -> !l.isBlank()).toList();
    return lines.isEmpty() ? "" : lines.get(lines.size() - 1);
  }

  @Test
  void tabCompletesCommandsAndKeysAndHintsArguments() throws Exception {
    kvsh(dir.resolve("history"), servers.list().get(0).config().self().clientAddress());
    screen(s -> s.contains("n1 127.0.0.1:"), "a prompt naming the node");
    type("sta", "Tab");
    screen(s -> lastLine(s).endsWith("> status [--local]"), "'sta' completed to status with its hint");
    type("Enter");
    screen(s -> s.contains("FOLLOWER") && s.contains("LEADER"), "the status table");
    type("get user/a", "Tab");
    screen(s -> lastLine(s).contains("> get user/alice"), "the key completed");
    type("Enter");
    screen(s -> s.lines().anyMatch(l -> l.equals("A")), "the value");
    type("put user/carol");
    screen(s -> lastLine(s).endsWith("put user/carol VALUE [--prev] [--lease ID]"), "the argument hint");
    type("C-u", "gte user/bob", "Enter");
    screen(s -> s.contains("did you mean 'get'?"), "a suggestion for the typo");
    type("put onlykey", "Enter");
    screen(s -> s.contains("usage: put KEY VALUE"), "the usage after a wrong argument");
    type("get user/bob", "Enter");
    screen(s -> s.lines().anyMatch(l -> l.equals("B")), "the shell still working after errors");
  }

  @Test
  void historyIsRecalledInTheNextSession() throws Exception {
    var history = dir.resolve("history");
    var address = servers.list().get(0).config().self().clientAddress();
    kvsh(history, address);
    type("get user/bob", "Enter");
    screen(s -> s.lines().anyMatch(l -> l.equals("B")), "the value");
    type("C-d");
    dev.kvraft.server.testing.Await.until("history saved to " + history, WAIT,
        () -> Files.exists(history) && Files.readString(history).contains("get user/bob"));
    kvsh(history, address);
    type("Up");
    screen(s -> lastLine(s).endsWith("> get user/bob"), "the last command of the previous session");
    type("C-u", "C-r", "user/bob");
    screen(s -> s.contains("user/bob"), "Ctrl-R search");
  }

  @Test
  void ctrlCStopsAWatchAndTheShellGoesOn() throws Exception {
    var address = servers.list().get(0).config().self().clientAddress();
    kvsh(dir.resolve("history"), address);
    type("watch user/w", "Enter");
    try (var c = dev.kvraft.client.KvClient.connect(address)) {
      // The watch starts from "now" once it is open: write until the screen shows a change.
      dev.kvraft.server.testing.Await.until("the watch to print a change", WAIT, () -> {
        c.put("user/w", "hello");
        return tmux("capture-pane", "-p", "-t", session).contains("PUT user/w hello rev=");
      });
    }
    type("C-c");
    screen(s -> s.contains("(watch stopped after") && lastLine(s).endsWith(">"), "the prompt after Ctrl-C");
    type("get user/bob", "Enter");
    screen(s -> s.lines().anyMatch(l -> l.equals("B")), "the shell still working");
  }

  @Test
  void saysSoWhenItFailsOverToAnotherNode() throws Exception {
    var first = servers.list().get(0);
    kvsh(dir.resolve("history"), first.config().self().clientAddress() + ","
        + servers.list().get(1).config().self().clientAddress());
    type("get user/alice", "Enter");
    screen(s -> s.lines().anyMatch(l -> l.equals("A")), "the value");
    first.close();
    servers.remove(first);
    type("get user/bob", "Enter");
    var s = screen(x -> x.contains("kvsh: lost " + first.config().self().clientAddress() + "; now connected to"),
        "the failover message");
    assertTrue(s.lines().anyMatch(l -> l.equals("B")), s);
    assertEquals(-1, s.indexOf("Exception"), "no stack trace on the screen:\n" + s);
  }
}
