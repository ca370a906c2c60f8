package dev.kvraft.shell;

import dev.kvraft.client.Json;

import com.google.protobuf.ByteString;
import dev.kvraft.proto.KeyValue;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Printing results safely: text that is valid UTF-8 without control characters is shown as is; anything else is
 * escaped ({@code \n}, {@code \xHH}), so raw control bytes never reach the terminal.
 */
public final class Output {
  private Output() {}

  /** A byte string as a person can read it, escaped when needed. */
  public static String show(ByteString bytes) {
    if (bytes.isValidUtf8()) {
      var s = bytes.toStringUtf8();
      if (s.codePoints().noneMatch(Output::needsEscape)) {
        return s;
      }
      var sb = new StringBuilder();
      s.codePoints().forEach(cp -> {
        if (needsEscape(cp)) {
          escape(sb, cp);
        } else {
          sb.appendCodePoint(cp);
        }
      });
      return sb.toString();
    }
    var sb = new StringBuilder();
    for (byte b : bytes.toByteArray()) {
      int v = b & 0xff;
      if (v >= 0x20 && v < 0x7f && v != '\\') {
        sb.append((char) v);
      } else {
        escape(sb, v);
      }
    }
    return sb.toString();
  }

  private static boolean needsEscape(int cp) {
    return Character.isISOControl(cp) || cp == '\\' || cp == 0x2028 || cp == 0x2029;
  }

  private static void escape(StringBuilder sb, int v) {
    switch (v) {
      case '\n' -> sb.append("\\n");
      case '\t' -> sb.append("\\t");
      case '\r' -> sb.append("\\r");
      case '\\' -> sb.append("\\\\");
      default -> {
        if (v < 0x100) {
          sb.append(String.format("\\x%02x", v));
        } else {
          sb.append(String.format("\\u%04x", v));
        }
      }
    }
  }

  /** Prints rows as an aligned table with a header line. */
  public static void table(PrintWriter out, List<String> headers, List<List<String>> rows) {
    var widths = new int[headers.size()];
    for (int i = 0; i < headers.size(); i++) {
      widths[i] = headers.get(i).length();
    }
    for (var row : rows) {
      for (int i = 0; i < row.size(); i++) {
        widths[i] = Math.max(widths[i], row.get(i).codePointCount(0, row.get(i).length()));
      }
    }
    printRow(out, headers, widths);
    for (var row : rows) {
      printRow(out, row, widths);
    }
  }

  private static void printRow(PrintWriter out, List<String> cells, int[] widths) {
    var sb = new StringBuilder();
    for (int i = 0; i < cells.size(); i++) {
      var cell = cells.get(i);
      sb.append(cell);
      if (i < cells.size() - 1) {
        sb.append(" ".repeat(widths[i] - cell.codePointCount(0, cell.length()) + 2));
      }
    }
    out.println(sb.toString().stripTrailing());
  }

  /** A key-value as an ordered map for JSON; bytes that are not UTF-8 text go out as hex under {@code *_hex}. */
  public static Map<String, Object> json(KeyValue kv, boolean withValue) {
    var m = new LinkedHashMap<String, Object>();
    putBytes(m, "key", kv.getKey());
    if (withValue) {
      putBytes(m, "value", kv.getValue());
    }
    m.put("create_revision", kv.getCreateRevision());
    m.put("mod_revision", kv.getModRevision());
    m.put("version", kv.getVersion());
    return m;
  }

  public static void putBytes(Map<String, Object> m, String name, ByteString bytes) {
    if (bytes.isValidUtf8()) {
      m.put(name, bytes.toStringUtf8());
    } else {
      var hex = new StringBuilder();
      for (byte b : bytes.toByteArray()) {
        hex.append(String.format("%02x", b));
      }
      m.put(name + "_hex", hex.toString());
    }
  }

  /** Minimal JSON for maps, lists, strings, numbers, booleans and null (see {@link Json}). */
  public static String toJson(Object o) {
    return Json.write(o);
  }

  /** Prints key-values in the context's format; {@code revisions} adds the revision columns to tables. */
  public static void keyValues(ShellContext ctx, List<KeyValue> kvs, boolean withValues, boolean revisions) {
    var out = ctx.out();
    switch (ctx.format()) {
      case JSON -> {
        var list = new ArrayList<Object>();
        kvs.forEach(kv -> list.add(json(kv, withValues)));
        out.println(toJson(list));
      }
      case RAW -> kvs.forEach(kv -> {
        out.println(show(kv.getKey()));
        if (withValues) {
          out.println(show(kv.getValue()));
        }
      });
      case TABLE -> {
        var headers = new ArrayList<String>(List.of("KEY"));
        if (withValues) {
          headers.add("VALUE");
        }
        if (revisions) {
          headers.addAll(List.of("CREATE_REV", "MOD_REV", "VERSION"));
        }
        var rows = new ArrayList<List<String>>();
        for (var kv : kvs) {
          var row = new ArrayList<String>(List.of(show(kv.getKey())));
          if (withValues) {
            row.add(show(kv.getValue()));
          }
          if (revisions) {
            row.addAll(List.of(String.valueOf(kv.getCreateRevision()), String.valueOf(kv.getModRevision()),
                String.valueOf(kv.getVersion())));
          }
          rows.add(row);
        }
        table(out, headers, rows);
      }
    }
  }
}
