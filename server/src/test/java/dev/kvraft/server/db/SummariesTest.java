package dev.kvraft.server.db;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.protobuf.ByteString;
import dev.kvraft.proto.LogEntry;
import dev.kvraft.proto.Put;
import dev.kvraft.proto.WriteOp;
import org.junit.jupiter.api.Test;

/** The {@code summary} column an operator reads in sqlite3: text as text, bytes as hex, both cut short. */
class SummariesTest {

  @Test
  void printableTextStaysText() {
    assertEquals("grüße", Summaries.show(ByteString.copyFromUtf8("grüße")));
  }

  @Test
  void binaryIsLowerCaseHex() {
    assertEquals("0x00ff10ab", Summaries.show(ByteString.copyFrom(new byte[] {0, (byte) 0xff, 0x10, (byte) 0xab})));
    assertEquals("0x0a", Summaries.show(ByteString.copyFromUtf8("\n")), "control characters are not shown raw");
  }

  @Test
  void longValuesAreCutAndSayTheirSize() {
    var bytes = new byte[100];
    bytes[0] = (byte) 0xfe;
    assertEquals("0xfe" + "00".repeat(31) + "…(100 bytes)", Summaries.show(ByteString.copyFrom(bytes)));
    assertEquals("a".repeat(32) + "…(40 bytes)", Summaries.show(ByteString.copyFromUtf8("a".repeat(40))));
  }

  @Test
  void anEntryListsItsFirstOps() {
    var entry = LogEntry.newBuilder();
    for (int i = 0; i < 7; i++) {
      entry.addOps(WriteOp.newBuilder().setPut(Put.newBuilder().setKey(ByteString.copyFromUtf8("k" + i))
          .setValue(ByteString.copyFrom(new byte[] {(byte) i, (byte) 0x80}))));
    }
    assertEquals("put k0=0x0080; put k1=0x0180; put k2=0x0280; put k3=0x0380; put k4=0x0480 (+2 more)",
        Summaries.of(entry.build()));
  }
}
