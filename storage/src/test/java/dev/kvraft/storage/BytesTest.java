package dev.kvraft.storage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Keys and values land in sqlite3 as TEXT exactly when they are valid UTF-8; the JDK's strict decoder is the judge. */
class BytesTest {

  private static String jdk(byte[] bytes) {
    try {
      return StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(bytes)).toString();
    } catch (CharacterCodingException e) {
      return null;
    }
  }

  @Test
  void textIsText() {
    for (var s : new String[] {"", "key", "grüße", "日本語", "emoji 🚀", "\u0000nul"}) {
      assertEquals(s, Bytes.utf8(s.getBytes(StandardCharsets.UTF_8)), s);
    }
  }

  @Test
  void malformedSequencesAreBlobs() {
    for (var hex : new String[] {
        "80",             // lone continuation byte
        "c0af",           // overlong '/'
        "e080af",         // overlong, three bytes
        "eda080",         // UTF-16 surrogate U+D800
        "f4908080",       // above U+10FFFF
        "f5808080",       // invalid lead byte
        "e282",           // truncated
        "ff",             // never valid
        "c328"}) {        // bad continuation
      assertNull(Bytes.utf8(HexFormat.of().parseHex(hex)), hex);
    }
  }

  @Test
  void agreesWithTheJdkDecoderOnRandomBytes() {
    var random = new Random(42);
    for (int i = 0; i < 200_000; i++) {
      var bytes = new byte[random.nextInt(8)];
      random.nextBytes(bytes);
      // Bias towards plausible multi-byte sequences so both verdicts occur often.
      if (bytes.length > 0 && random.nextBoolean()) {
        bytes[0] = (byte) (0xc0 | random.nextInt(0x40));
      }
      assertEquals(jdk(bytes), Bytes.utf8(bytes), () -> HexFormat.of().formatHex(bytes));
    }
  }

  @Test
  void readGivesBackExactlyWhatBindStoredEmptyAndNullIncluded() throws Exception {
    var values = java.util.List.of(new byte[0], "abc".getBytes(StandardCharsets.UTF_8),
        "h\u00e9 \ud83d\ude00".getBytes(StandardCharsets.UTF_8), new byte[] {0, (byte) 0xff}, new byte[] {(byte) 0xc3});
    try (var db = java.sql.DriverManager.getConnection("jdbc:sqlite::memory:"); var st = db.createStatement()) {
      st.execute("CREATE TABLE t (i INTEGER PRIMARY KEY, v)");
      try (var ins = db.prepareStatement("INSERT INTO t VALUES (?, ?)")) {
        for (int i = 0; i < values.size(); i++) {
          ins.setInt(1, i);
          Bytes.bind(ins, 2, values.get(i));
          ins.executeUpdate();
        }
        ins.setInt(1, values.size());
        ins.setNull(2, java.sql.Types.BLOB);
        ins.executeUpdate();
      }
      try (var rs = st.executeQuery("SELECT v FROM t ORDER BY i")) {
        for (var expected : values) {
          rs.next();
          org.junit.jupiter.api.Assertions.assertArrayEquals(expected, Bytes.read(rs, 1));
          org.junit.jupiter.api.Assertions.assertFalse(Bytes.wasNull(rs), "a stored empty value is not NULL");
        }
        rs.next();
        org.junit.jupiter.api.Assertions.assertArrayEquals(new byte[0], Bytes.read(rs, 1));
        org.junit.jupiter.api.Assertions.assertTrue(Bytes.wasNull(rs));
      }
    }
  }
}
