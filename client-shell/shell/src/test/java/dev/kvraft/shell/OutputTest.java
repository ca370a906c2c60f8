package dev.kvraft.shell;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.protobuf.ByteString;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import org.junit.jupiter.api.Test;

class OutputTest {
  @Test
  void controlBytesAreEscapedNeverPrinted() {
    assertEquals("plain text", Output.show(ByteString.copyFromUtf8("plain text")));
    assertEquals("a\\nb\\x1b[31m", Output.show(ByteString.copyFromUtf8("a\nb\u001b[31m")));
    assertEquals("\\x00\\xff", Output.show(ByteString.copyFrom(new byte[] {0, (byte) 0xff})));
    assertEquals("back\\\\slash", Output.show(ByteString.copyFromUtf8("back\\slash")));
    assertEquals("héllo", Output.show(ByteString.copyFromUtf8("héllo")));
  }

  @Test
  void tablesAlign() {
    var sw = new StringWriter();
    Output.table(new PrintWriter(sw), List.of("KEY", "VALUE"), List.of(List.of("a", "1"), List.of("long-key", "2")));
    assertEquals("KEY       VALUE\na         1\nlong-key  2\n", sw.toString().replace("\r\n", "\n"));
  }

  @Test
  void jsonEscapes() {
    var m = new java.util.LinkedHashMap<String, Object>();
    m.put("k", "a\"b\n\u0001");
    m.put("n", 3);
    m.put("l", java.util.Arrays.asList(true, null));
    assertEquals("{\"k\":\"a\\\"b\\n\\u0001\",\"n\":3,\"l\":[true,null]}", Output.toJson(m));
  }
}
