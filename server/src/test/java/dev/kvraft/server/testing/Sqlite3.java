package dev.kvraft.server.testing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs the real {@code sqlite3} command-line tool, as an operator would. */
public final class Sqlite3 {
  private Sqlite3() {}

  /**
   * Polls a query until it returns {@code expected} or the timeout passes, then returns what it last saw: the log
   * mirror commits in the background, so rows appear a moment after the write was acknowledged.
   */
  public static List<String> await(Path file, String sql, List<String> expected, java.time.Duration timeout)
      throws Exception {
    try {
      return Await.until(sql + " to return " + expected, timeout, () -> query(file, sql), expected::equals);
    } catch (AssertionError e) {
      return query(file, sql); // the caller's assertion says what differs
    }
  }

  /** The output lines of {@code sqlite3 -batch FILE SQL} (columns separated by '|'). */
  public static List<String> query(Path file, String sql) throws IOException, InterruptedException {
    Process p;
    try {
      p = new ProcessBuilder("sqlite3", "-batch", file.toString(), sql).redirectErrorStream(true).start();
    } catch (IOException e) {
      throw new IOException("the sqlite3 tool is needed for this test: apt-get install -y sqlite3", e);
    }
    var out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(30, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new IOException("sqlite3 did not finish: " + sql);
    }
    if (p.exitValue() != 0) {
      throw new IOException("sqlite3 failed (" + p.exitValue() + ") on " + file + ": " + out);
    }
    return out.isEmpty() ? List.of() : List.of(out.split("\n"));
  }
}
