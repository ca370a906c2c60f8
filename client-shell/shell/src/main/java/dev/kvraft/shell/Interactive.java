package dev.kvraft.shell;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.jline.console.ArgDesc;
import org.jline.console.CmdDesc;
import org.jline.reader.EndOfFileException;
import org.jline.reader.LineReader;
import org.jline.reader.LineReaderBuilder;
import org.jline.reader.UserInterruptException;
import org.jline.terminal.TerminalBuilder;
import org.jline.utils.AttributedString;
import org.jline.widget.TailTipWidgets;

/**
 * The interactive prompt: JLine line editing, persistent history (Ctrl-R searches it), Tab completion of commands,
 * options and keys, a hint of the arguments as you type, and a prompt that names the node and says whether it
 * leads. Ctrl-C cancels the line (or stops a running watch), Ctrl-D leaves. Owned by the shell's one thread.
 */
final class Interactive {
  static final int HISTORY_SIZE = 10_000;
  private final Shell shell;
  private final Path history;

  Interactive(Shell shell, Path history) {
    this.shell = shell;
    this.history = history;
  }

  int run() {
    var ctx = shell.context();
    try (var terminal = TerminalBuilder.builder().name("kvsh").system(true).build()) {
      var reader = LineReaderBuilder.builder()
          .terminal(terminal)
          .appName("kvsh")
          .completer(new KvshCompleter(ctx))
          .variable(LineReader.HISTORY_FILE, history)
          .variable(LineReader.HISTORY_SIZE, HISTORY_SIZE)
          .variable(LineReader.HISTORY_FILE_SIZE, HISTORY_SIZE)
          .option(LineReader.Option.HISTORY_IGNORE_SPACE, true)
          .option(LineReader.Option.HISTORY_IGNORE_DUPS, true)
          .option(LineReader.Option.DISABLE_EVENT_EXPANSION, true)
          .option(LineReader.Option.AUTO_FRESH_LINE, true)
          .build();
      new TailTipWidgets(reader, hints(ctx.commands()), 0, TailTipWidgets.TipType.TAIL_TIP).enable();
      // Ctrl-C while a command runs stops that command (a watch) and comes back to the prompt, never kvsh itself.
      terminal.handle(org.jline.terminal.Terminal.Signal.INT, signal -> ctx.interrupt());
      ctx.lines(LineSource.of(prompt -> {
        try {
          return reader.readLine(prompt);
        } catch (UserInterruptException | EndOfFileException e) {
          return null;
        }
      }));
      ctx.out().println("kvsh: connected to " + String.join(",", ctx.client().addresses())
          + "; 'help' lists the commands, Tab completes, Ctrl-D leaves");
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
      ctx.err().println("kvsh: cannot open the terminal: " + e.getMessage());
      return 1;
    }
  }

  /** The argument hints shown after the cursor, from each command's usage. */
  static Map<String, CmdDesc> hints(Commands commands) {
    var map = new HashMap<String, CmdDesc>();
    for (var c : commands.all()) {
      var args = new ArrayList<String>();
      for (var word : c.spec().usage().split("\\s+")) {
        if (!word.isBlank() && !word.startsWith("(")) {
          args.add(word);
        }
      }
      var desc = new CmdDesc(List.of(new AttributedString(c.spec().summary())), ArgDesc.doArgNames(args), Map.of());
      map.put(c.spec().name(), desc);
      c.spec().aliases().forEach(a -> map.put(a, desc));
    }
    return map;
  }

  /** {@code n1 127.0.0.1:7379 (leader)> }: which node, and its role; asked of the cluster at every prompt. */
  private String prompt() {
    var client = shell.context().client();
    var address = client.currentAddress().orElse(client.addresses().get(0));
    try (var quick = client.forNode(address, Duration.ofMillis(500))) {
      var members = quick.members();
      for (var m : members.getMembersList()) {
        if (m.getClientAddress().equals(address)) {
          return m.getId() + " " + address + (m.getLeader() ? " (leader)" : members.getLeaderId().isEmpty()
              ? " (no leader)" : "") + "> ";
        }
      }
      return address + "> ";
    } catch (RuntimeException e) {
      return address + " (unreachable)> ";
    }
  }
}
