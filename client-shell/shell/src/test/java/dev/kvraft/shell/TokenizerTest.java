package dev.kvraft.shell;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class TokenizerTest {
  @Test
  void aHexEscapeNeedsExactlyTwoHexDigits() {
    for (var bad : List.of("put k \\x+1", "put k \\x-1", "put k \\x1", "put k \\xg0", "put k \\x")) {
      var e = assertThrows(UsageException.class, () -> Tokenizer.split(bad), bad);
      assertTrue(e.getMessage().contains("two hex digits"), e.getMessage());
    }
    assertEquals(Tokenizer.split("put k \\x0a"), Tokenizer.split("put k \\x0A"));
  }

  @Test
  void splitsLikeAShell() {
    assertEquals(List.of("put", "a b", "c"), Tokenizer.split("put 'a b' c"));
    assertEquals(List.of("put", "k", "say \"hi\""), Tokenizer.split("put k \"say \\\"hi\\\"\""));
    assertEquals(List.of("get", "a b"), Tokenizer.split("get a\\ b"));
    assertEquals(List.of("put", "k", ""), Tokenizer.split("put k ''"));
    assertEquals(List.of(), Tokenizer.split("   "));
  }

  @Test
  void escapesMakeAnyByteTypable() {
    var words = Tokenizer.split("put \\x00\\xff \"a\\nb\"");
    assertArrayEquals(new byte[] {0, (byte) 0xff}, Tokenizer.bytes(words.get(1)));
    assertArrayEquals("a\nb".getBytes(StandardCharsets.UTF_8), Tokenizer.bytes(words.get(2)));
  }

  @Test
  void unicodeSurvivesAsUtf8() {
    var words = Tokenizer.split("put clé 'naïve 😀'");
    assertArrayEquals("clé".getBytes(StandardCharsets.UTF_8), Tokenizer.bytes(words.get(1)));
    assertArrayEquals("naïve 😀".getBytes(StandardCharsets.UTF_8), Tokenizer.bytes(words.get(2)));
  }

  @ParameterizedTest
  @ValueSource(strings = {"put 'open", "put \"open", "get a\\", "get \\xZZ", "get \\x1"})
  void badLinesAreUsageErrors(String line) {
    assertThrows(UsageException.class, () -> Tokenizer.split(line));
  }
}
