package dev.kvraft.proto;

import com.google.protobuf.ByteString;
import java.util.HexFormat;
import java.util.Locale;
import java.util.function.Function;

/**
 * How a {@link Permission} and a key range read, one rule for the server's messages, the log mirror and kvsh:
 * {@code read key k}, {@code write [a, b)}, {@code readwrite [a, end)}. A range end of {@link #TO_END} ("\0")
 * means "to the last key", as in etcd. Stateless.
 */
public final class Permissions {
  /** The range end that means "every key from the start on". */
  public static final ByteString TO_END = ByteString.copyFrom(new byte[] {0});

  private Permissions() {}

  /** With keys shown as text when printable UTF-8, else {@code 0x}-hex. */
  public static String describe(Permission p) {
    return describe(p, Permissions::show);
  }

  /** With keys shown by {@code show} (kvsh escapes them its own way). */
  public static String describe(Permission p, Function<ByteString, String> show) {
    var type = p.getType().name().toLowerCase(Locale.ROOT);
    return p.getRangeEnd().isEmpty() ? type + " key " + show.apply(p.getKey())
        : type + " " + range(p.getKey(), p.getRangeEnd(), show);
  }

  /** {@code [a, b)}, or {@code [a, end)} when {@code end} is empty or {@link #TO_END}. */
  public static String range(ByteString start, ByteString end, Function<ByteString, String> show) {
    return "[" + show.apply(start) + ", " + (isToEnd(end) ? "end" : show.apply(end)) + ")";
  }

  /** Whether a range end reaches the last key: empty (a scan's "no end") or {@link #TO_END}. */
  public static boolean isToEnd(ByteString end) {
    return end.isEmpty() || end.equals(TO_END);
  }

  /** Text when printable UTF-8, else {@code 0x}-hex. */
  public static String show(ByteString b) {
    if (b.isValidUtf8()) {
      var s = b.toStringUtf8();
      if (s.codePoints().noneMatch(Character::isISOControl)) {
        return s;
      }
    }
    return "0x" + HexFormat.of().formatHex(b.toByteArray());
  }
}
