package dev.kvraft.client;

import java.util.List;
import java.util.Map;

/** A minimal JSON writer, for the {@code --format json} output of kvsh and the tools. Stateless. */
public final class Json {
  private Json() {}

  /** {@code o} as JSON: maps, lists, strings, numbers, booleans and null; anything else as its string. */
  public static String write(Object o) {
    var sb = new StringBuilder();
    writeJson(sb, o);
    return sb.toString();
  }

  private static void writeJson(StringBuilder sb, Object o) {
    switch (o) {
      case null -> sb.append("null");
      case String s -> quote(sb, s);
      case Number n -> sb.append(n);
      case Boolean b -> sb.append(b);
      case Map<?, ?> m -> {
        sb.append('{');
        boolean first = true;
        for (var e : m.entrySet()) {
          if (!first) {
            sb.append(',');
          }
          first = false;
          quote(sb, String.valueOf(e.getKey()));
          sb.append(':');
          writeJson(sb, e.getValue());
        }
        sb.append('}');
      }
      case List<?> l -> {
        sb.append('[');
        for (int i = 0; i < l.size(); i++) {
          if (i > 0) {
            sb.append(',');
          }
          writeJson(sb, l.get(i));
        }
        sb.append(']');
      }
      default -> quote(sb, o.toString());
    }
  }

  private static void quote(StringBuilder sb, String s) {
    sb.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> sb.append("\\\"");
        case '\\' -> sb.append("\\\\");
        case '\n' -> sb.append("\\n");
        case '\r' -> sb.append("\\r");
        case '\t' -> sb.append("\\t");
        default -> {
          if (c < 0x20 || c == 0x2028 || c == 0x2029) {
            sb.append(String.format("\\u%04x", (int) c));
          } else {
            sb.append(c);
          }
        }
      }
    }
    sb.append('"');
  }
}
