package dev.kvraft.storage;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
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

  /** The text, or null when the bytes are not valid UTF-8. */
  static String utf8(byte[] bytes) {
    boolean ascii = true;
    for (byte b : bytes) {
      if (b < 0) {
        ascii = false;
        break;
      }
    }
    if (ascii) {
      return new String(bytes, StandardCharsets.US_ASCII);
    }
    try {
      return StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(bytes)).toString();
    } catch (CharacterCodingException e) {
      return null;
    }
  }

  /** Reads back what {@link #bind} stored: TEXT as its UTF-8 bytes, BLOB as is. */
  static byte[] read(java.sql.ResultSet rs, int column) throws SQLException {
    var o = rs.getObject(column);
    if (o == null) {
      return new byte[0];
    }
    if (o instanceof String s) {
      return s.getBytes(StandardCharsets.UTF_8);
    }
    return rs.getBytes(column);
  }
}
