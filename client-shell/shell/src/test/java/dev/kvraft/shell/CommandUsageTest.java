package dev.kvraft.shell;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvraft.client.KvClient;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Every command rejects wrong arguments with its usage, before talking to any server. */
class CommandUsageTest {
  private static Shell shell(StringWriter out, StringWriter err) {
    // Nothing listens there: a command that parsed its arguments and called the server would fail differently.
    var client = KvClient.builder().addresses("127.0.0.1:1").timeout(Duration.ofMillis(300)).build();
    return new Shell(new ShellContext(client, new PrintWriter(out, true), new PrintWriter(err, true),
        Commands.standard(), Format.TABLE));
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', value = {
      "get                      | missing argument        | usage: get KEY",
      "get a b                  | too many arguments      | usage: get KEY",
      "get a --bogus            | unknown option --bogus  | usage: get KEY",
      "put a                    | missing argument        | usage: put KEY VALUE",
      "del                      | missing argument        | usage: del KEY",
      "del --prefix a b         | --prefix takes one      | usage: del KEY",
      "scan a b c               | too many arguments      | usage: scan [PREFIX]",
      "scan --limit x           | must be a whole number  | usage: scan [PREFIX]",
      "count a b                | too many arguments      | usage: count [PREFIX]",
      "cas k                    | missing argument        | usage: cas KEY",
      "cas k --absent --rev 3 v | exclude each other      | usage: cas KEY",
      "status extra             | too many arguments      | usage: status",
      "members extra            | too many arguments      | usage: members",
      "leader extra             | but 'transfer [ID]'   | usage: leader",
      "leader transfer n2 n3    | too many arguments      | usage: leader",
      "snapshot extra           | too many arguments      | usage: snapshot",
      "\\format yaml            | unknown format 'yaml'   | usage: \\format",
      "\\timing maybe           | say 'on' or 'off'       | usage: \\timing",
      "help nosuch              | no command 'nosuch'     | usage: help",
      "txn extra                | too many arguments      | usage: txn",
  })
  void wrongArgumentsShowTheUsage(String line, String error, String usage) {
    var out = new StringWriter();
    var err = new StringWriter();
    assertEquals(Shell.Outcome.FAILED, shell(out, err).run(line));
    assertTrue(err.toString().contains(error), err.toString());
    assertTrue(err.toString().contains(usage), err.toString());
    assertEquals("", out.toString(), "nothing on stdout for a usage error");
  }

  @Test
  void formatAndTimingChangeTheSessionWithoutAServer() {
    var out = new StringWriter();
    var err = new StringWriter();
    var shell = shell(out, err);
    assertEquals(Shell.Outcome.OK, shell.run("\\format json"));
    assertEquals(Format.JSON, shell.context().format());
    assertEquals(Shell.Outcome.OK, shell.run("\\timing on"));
    assertTrue(shell.context().timing());
    assertEquals(Shell.Outcome.EXIT, shell.run("exit"));
    assertEquals(Shell.Outcome.OK, shell.run("   # a comment"));
  }

  @Test
  void aServerErrorIsReportedNotThrown() {
    var out = new StringWriter();
    var err = new StringWriter();
    assertEquals(Shell.Outcome.FAILED, shell(out, err).run("get k"));
    assertTrue(err.toString().contains("error (UNAVAILABLE)"), err.toString());
  }
}
