package dev.kvraft.storage;

import java.nio.charset.StandardCharsets;
import java.sql.PreparedStatement;
import java.sql.SQLException;

/** Keys and values go into SQLite as TEXT when they are valid UTF-8 (readable in sqlite3), else as BLOB. */
final class Bytes {
  private Bytes() {}

  static void bind(PreparedStatement st, int column, byte[] bytes) throws SQLException {
    if (bytes == null) {
      st.setNull(column, java.sql.Types.NULL);
      return;
    }
    var text = utf8(bytes);
    if (text != null) {
      st.setString(column, text);
    } else {
      st.setBytes(column, bytes);
    }
  }

  /**
   * The text, or null when the bytes are not valid UTF-8. Decides without exceptions: binary values are common
   * (every op of a binary workload passes here), and a thrown decoder exception per value cost the mirror more than
   * SQLite did.
   */
  static String utf8(byte[] bytes) {
    return isValidUtf8(bytes) ? new String(bytes, StandardCharsets.UTF_8) : null;
  }

  /** Well-formed UTF-8 as RFC 3629 defines it: no overlong forms, no surrogates, nothing above U+10FFFF. */
  static boolean isValidUtf8(byte[] b) {
    int i = 0;
    int n = b.length;
    while (i < n) {
      int c = b[i] & 0xff;
      if (c < 0x80) {
        i++;
        continue;
      }
      int len;
      int min;
      if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        min = 0x80;
      } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        min = 0x800;
      } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        min = 0x10000;
      } else {
        return false;
      }
      if (i + len > n) {
        return false;
      }
      int cp = c & (0xff >> (len + 1));
      for (int k = 1; k < len; k++) {
        int cc = b[i + k] & 0xff;
        if ((cc & 0xc0) != 0x80) {
          return false;
        }
        cp = (cp << 6) | (cc & 0x3f);
      }
      if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return false;
      }
      i += len;
    }
    return true;
  }

  /**
   * Reads back what {@link #bind} stored: TEXT as its UTF-8 bytes, BLOB as is (NULL: empty; {@link #wasNull} tells).
   * One call that copies the column's bytes: decoding TEXT into a String and encoding it back, as this once did, took
   * about 40% of the time of reading a 1,000,000-key snapshot (1,169 ms, now 672 ms; BENCHMARKS.md).
   */
  static byte[] read(java.sql.ResultSet rs, int column) throws SQLException {
    var b = rs.getBytes(column);
    return b == null ? EMPTY : b;
  }

  /** Whether the column last read was NULL (as opposed to an empty value). */
  static boolean wasNull(java.sql.ResultSet rs) throws SQLException {
    return rs.wasNull();
  }

  private static final byte[] EMPTY = new byte[0];
}
