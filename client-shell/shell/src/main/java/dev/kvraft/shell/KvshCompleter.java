package dev.kvraft.shell;

import com.google.protobuf.ByteString;
import dev.kvraft.proto.Consistency;
import dev.kvraft.proto.Scan;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.jline.reader.Candidate;
import org.jline.reader.Completer;
import org.jline.reader.LineReader;
import org.jline.reader.ParsedLine;

/**
 * Tab completion: command names in the first word, a command's options after {@code --}, and keys where a
 * command takes a key — a keys-only STALE scan of at most {@link #MAX_KEYS} keys by the typed prefix, so it stays
 * fast on a large store.
 */
final class KvshCompleter implements Completer {
  static final int MAX_KEYS = 50;
  private final ShellContext ctx;

  KvshCompleter(ShellContext ctx) {
    this.ctx = ctx;
  }

  @Override
  public void complete(LineReader reader, ParsedLine line, List<Candidate> candidates) {
    var words = line.words();
    int index = line.wordIndex();
    var typed = line.word().substring(0, Math.min(line.wordCursor(), line.word().length()));
    if (index == 0) {
      for (var name : ctx.commands().names()) {
        candidates.add(new Candidate(name, name, null, summaryOf(name), null, null, true));
      }
      return;
    }
    var command = ctx.commands().find(words.get(0));
    if (command.isEmpty()) {
      return;
    }
    if (typed.startsWith("-")) {
      command.get().spec().options().forEach(o -> candidates.add(new Candidate(o)));
      return;
    }
    if (index == 1 && !command.get().spec().subcommands().isEmpty()) {
      command.get().spec().subcommands().forEach(s -> candidates.add(new Candidate(s)));
      return;
    }
    if (command.get().spec().takesKey() && firstPositional(words, index)) {
      keys(typed, candidates);
    }
  }

  private String summaryOf(String name) {
    return ctx.commands().find(name).map(c -> c.spec().summary()).orElse(null);
  }

  /** True when the word at {@code index} is the command's first non-option argument. */
  private static boolean firstPositional(List<String> words, int index) {
    for (int i = 1; i < index; i++) {
      if (!words.get(i).startsWith("-")) {
        return false;
      }
    }
    return true;
  }

  private void keys(String prefix, List<Candidate> candidates) {
    try {
      var start = ByteString.copyFromUtf8(prefix);
      var result = ctx.client().scan(Scan.newBuilder().setStart(start)
          .setEnd(dev.kvraft.client.KvClient.prefixEnd(start)).setLimit(MAX_KEYS).setKeysOnly(true)
          .setConsistency(Consistency.STALE).build());
      for (var kv : result.getKvsList()) {
        if (kv.getKey().isValidUtf8()) {
          var key = kv.getKey().toString(StandardCharsets.UTF_8);
          candidates.add(new Candidate(quoteIfNeeded(key), key, null, null, null, null, true));
        }
      }
    } catch (RuntimeException e) {
      // No completion when the cluster does not answer: never an error at the prompt.
    }
  }

  private static String quoteIfNeeded(String key) {
    return key.chars().anyMatch(c -> Character.isWhitespace(c) || c == '\'' || c == '"' || c == '\\')
        ? "'" + key.replace("'", "'\\''") + "'" : key;
  }
}
