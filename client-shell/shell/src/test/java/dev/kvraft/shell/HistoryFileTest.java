package dev.kvraft.shell;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Where kvsh keeps its history: KVSH_HISTORY, else $HOME (not Java's user.home, which ignores HOME). */
class HistoryFileTest {

  @Test
  void usesHomeFromTheEnvironment() {
    assertEquals(Path.of("/tmp/somebody/.kvsh_history"), Kvsh.historyFile(Map.of("HOME", "/tmp/somebody")));
  }

  @Test
  void kvshHistoryWinsOverHome() {
    assertEquals(Path.of("/tmp/h/file"), Kvsh.historyFile(Map.of("HOME", "/tmp/somebody", "KVSH_HISTORY", "/tmp/h/file")));
  }

  @Test
  void emptyKvshHistoryFallsBackToHome() {
    assertEquals(Path.of("/tmp/somebody/.kvsh_history"), Kvsh.historyFile(Map.of("HOME", "/tmp/somebody", "KVSH_HISTORY", "")));
  }

  @Test
  void withoutHomeUsesUserHome() {
    assertEquals(Path.of(System.getProperty("user.home"), ".kvsh_history"), Kvsh.historyFile(Map.of()));
  }
}
