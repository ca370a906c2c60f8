package dev.kvraft.shell;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Splits a command line into words like a POSIX shell would: whitespace separates, single quotes keep everything,
 * double quotes keep spaces and allow escapes. Escapes ({@code \n \t \\ \" \' \xHH} and {@code \ } for a space)
 * make any byte typable; words are returned as ISO-8859-1 strings of raw bytes decoded by {@link #bytes}.
 */
public final class Tokenizer {
  private Tokenizer() {}

  /** The words of a line; throws {@link UsageException} for an unclosed quote or a bad escape. */
  public static List<String> split(String line) {
    var words = new ArrayList<String>();
    var word = new ByteArrayOutputStream();
    boolean inWord = false;
    char quote = 0;
    for (int i = 0; i < line.length(); i++) {
      char ch = line.charAt(i);
      if (Character.isHighSurrogate(ch) && i + 1 < line.length()) {
        word.writeBytes(line.substring(i, i + 2).getBytes(StandardCharsets.UTF_8));
        i++;
        inWord = true;
        continue;
      }
      if (quote == '\'') {
        if (ch == '\'') {
          quote = 0;
        } else {
          append(word, ch);
        }
        continue;
      }
      if (ch == '\\') {
        if (i + 1 >= line.length()) {
          throw new UsageException("the line ends with a lone backslash");
        }
        char next = line.charAt(++i);
        switch (next) {
          case 'n' -> word.write('\n');
          case 't' -> word.write('\t');
          case 'r' -> word.write('\r');
          case '0' -> word.write(0);
          case 'x' -> {
            // Exactly two hex digits: parseInt alone would also take "+1" or "-1".
            int hi = i + 2 < line.length() ? Character.digit(line.charAt(i + 1), 16) : -1;
            int lo = i + 2 < line.length() ? Character.digit(line.charAt(i + 2), 16) : -1;
            if (hi < 0 || lo < 0) {
              throw new UsageException("\\x needs two hex digits, e.g. \\x00");
            }
            word.write(hi << 4 | lo);
            i += 2;
          }
          default -> append(word, next);
        }
        inWord = true;
        continue;
      }
      if (quote == '"') {
        if (ch == '"') {
          quote = 0;
        } else {
          append(word, ch);
        }
        continue;
      }
      if (ch == '\'' || ch == '"') {
        quote = ch;
        inWord = true;
        continue;
      }
      if (Character.isWhitespace(ch)) {
        if (inWord) {
          words.add(word.toString(StandardCharsets.ISO_8859_1));
          word.reset();
          inWord = false;
        }
        continue;
      }
      append(word, ch);
      inWord = true;
    }
    if (quote != 0) {
      throw new UsageException("unclosed " + (quote == '"' ? "double" : "single") + " quote");
    }
    if (inWord) {
      words.add(word.toString(StandardCharsets.ISO_8859_1));
    }
    return words;
  }

  private static void append(ByteArrayOutputStream word, char ch) {
    word.writeBytes(String.valueOf(ch).getBytes(StandardCharsets.UTF_8));
  }

  /**
   * A word returned by {@link #split} as the text it spells, for what is text rather than a key or value: a file, a
   * command to run, a lock, user or member name. Its bytes are decoded as UTF-8 (the word itself holds one char per
   * byte, so {@code é} would be two chars); bytes that are not UTF-8 are a {@link UsageException}.
   */
  public static String text(String word) {
    try {
      return StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(java.nio.charset.CodingErrorAction.REPORT)
          .onUnmappableCharacter(java.nio.charset.CodingErrorAction.REPORT)
          .decode(java.nio.ByteBuffer.wrap(bytes(word))).toString();
    } catch (java.nio.charset.CharacterCodingException e) {
      throw new UsageException("'" + Output.show(com.google.protobuf.ByteString.copyFrom(bytes(word)))
          + "' is not UTF-8 text; only keys and values may hold any byte");
    }
  }

  /** The raw bytes of a word returned by {@link #split}. */
  public static byte[] bytes(String word) {
    return word.getBytes(StandardCharsets.ISO_8859_1);
  }
}
