package dev.kvraft.shell;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import com.code_intelligence.jazzer.mutation.annotation.NotNull;
import java.util.ArrayList;

/**
 * Fuzzes kvsh's {@link Tokenizer}.
 *
 * <ul>
 *   <li>Any line: words or a {@link UsageException} with a message, nothing else; every word is a string of raw
 *       bytes (every char at most 0xFF), as {@link Tokenizer#bytes} expects.
 *   <li>Any list of byte strings, each written escaped in a fuzzer-chosen style ({@code \xHH}, single or double
 *       quotes, backslash escapes), joined by whitespace, splits back into exactly those bytes.
 * </ul>
 *
 * <p>Seeds: {@code src/test/resources/dev/kvraft/shell/TokenizerFuzzTestInputs/}. Fuzzing mode: TESTING.md,
 * "Fuzzing".
 */
class TokenizerFuzzTest {

  @FuzzTest(maxDuration = "2m")
  void anyLineSplitsOrFailsWithUsage(@NotNull String line) {
    java.util.List<String> words;
    try {
      words = Tokenizer.split(line);
    } catch (UsageException e) {
      assertFalse(e.getMessage() == null || e.getMessage().isBlank(), "a UsageException without a message");
      return;
    }
    for (var w : words) {
      assertTrue(w.chars().allMatch(c -> c <= 0xff), "a word that is not raw bytes: " + w);
    }
  }

  @FuzzTest(maxDuration = "2m")
  void escapedWordsSplitBackToTheirBytes(FuzzedDataProvider data) {
    int n = data.consumeInt(1, 5);
    var words = new ArrayList<byte[]>();
    var line = new StringBuilder();
    for (int i = 0; i < n; i++) {
      var word = data.consumeBytes(data.consumeInt(1, 12));
      if (word.length == 0) {
        break;
      }
      words.add(word);
      line.append(i == 0 ? "" : data.pickValue(new String[] {" ", "  ", "\t"}));
      line.append(escape(word, data.consumeInt(0, 2)));
    }
    var split = Tokenizer.split(line.toString());
    assertEquals(words.size(), split.size(), "words of " + line);
    for (int i = 0; i < words.size(); i++) {
      assertArrayEquals(words.get(i), Tokenizer.bytes(split.get(i)), "word " + i + " of " + line);
    }
  }

  /** Writes raw bytes as kvsh input: style 0 all {@code \xHH}, 1 double quotes with escapes, 2 mixed. */
  private static String escape(byte[] word, int style) {
    var sb = new StringBuilder();
    if (style == 1) {
      sb.append('"');
    }
    for (byte b : word) {
      int c = b & 0xff;
      boolean plain = c > 0x20 && c < 0x7f && c != '\\' && c != '"' && c != '\'';
      if (style == 0 || !plain) {
        sb.append(String.format("\\x%02x", c));
      } else {
        sb.append((char) c);
      }
    }
    if (style == 1) {
      sb.append('"');
    }
    return sb.toString();
  }
}
