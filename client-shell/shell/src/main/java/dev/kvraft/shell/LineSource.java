package dev.kvraft.shell;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.function.Function;

/**
 * Where a command that needs more than its own line (txn) reads the next ones: the terminal with a continuation
 * prompt, the rest of stdin, or the following {@code -c} arguments. Owned by the shell's one thread.
 */
public interface LineSource {
  /** The next line, or null at the end of input. */
  String readLine(String prompt);

  LineSource NONE = prompt -> null;

  /** Lines from a queue (the remaining {@code -c} commands). */
  static LineSource of(Deque<String> lines) {
    return prompt -> lines.poll();
  }

  static LineSource of(Function<String, String> reader) {
    return reader::apply;
  }

  static Deque<String> queue(Iterable<String> lines) {
    var q = new ArrayDeque<String>();
    lines.forEach(q::add);
    return q;
  }
}
