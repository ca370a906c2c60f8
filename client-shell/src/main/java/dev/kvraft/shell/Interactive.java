package dev.kvraft.shell;

import java.io.IOException;
import java.nio.file.Path;
import org.jline.reader.EndOfFileException;
import org.jline.reader.LineReader;
import org.jline.reader.LineReaderBuilder;
import org.jline.reader.UserInterruptException;
import org.jline.reader.impl.completer.StringsCompleter;
import org.jline.terminal.TerminalBuilder;

/**
 * The interactive prompt: JLine line editing, persistent history (Ctrl-R searches it), completion of command
 * names. Ctrl-C cancels the line, Ctrl-D leaves. Owned by the shell's one thread.
 */
final class Interactive {
  private final Shell shell;
  private final Path history;

  Interactive(Shell shell, Path history) {
    this.shell = shell;
    this.history = history;
  }

  int run() {
    try (var terminal = TerminalBuilder.builder().name("kvsh").system(true).build()) {
      var reader = LineReaderBuilder.builder()
          .terminal(terminal)
          .appName("kvsh")
          .completer(new StringsCompleter(shell.context().commands().names()))
          .variable(LineReader.HISTORY_FILE, history)
          .variable(LineReader.HISTORY_SIZE, 10_000)
          .variable(LineReader.HISTORY_FILE_SIZE, 10_000)
          .option(LineReader.Option.HISTORY_IGNORE_SPACE, true)
          .option(LineReader.Option.DISABLE_EVENT_EXPANSION, true)
          .build();
      var client = shell.context().client();
      shell.context().out().println("kvsh: connected to " + String.join(",", client.addresses())
          + "; type 'help' for the commands, Ctrl-D to leave");
      while (true) {
        String line;
        try {
          line = reader.readLine(prompt());
        } catch (UserInterruptException e) {
          continue;
        } catch (EndOfFileException e) {
          break;
        }
        if (shell.run(line) == Shell.Outcome.EXIT) {
          break;
        }
      }
      reader.getHistory().save();
      return 0;
    } catch (IOException e) {
      shell.context().err().println("kvsh: cannot open the terminal: " + e.getMessage());
      return 1;
    }
  }

  private String prompt() {
    return shell.context().client().currentAddress().orElse(shell.context().client().addresses().get(0)) + "> ";
  }
}
