package dev.kvraft.proto;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.google.protobuf.ByteString;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class DelimitedReaderTest {
  private static List<Response> answers() {
    var big = new byte[100_000]; // larger than the reader's buffer
    Arrays.fill(big, (byte) 7);
    return List.of(
        Response.newBuilder().setId(1).setGet(GetResult.newBuilder().setKv(KeyValue.newBuilder()
            .setKey(ByteString.copyFromUtf8("k")).setValue(ByteString.copyFromUtf8("v")))).build(),
        Response.getDefaultInstance(), // zero bytes long
        Response.newBuilder().setId(3).setGet(GetResult.newBuilder().setKv(KeyValue.newBuilder()
            .setKey(ByteString.copyFromUtf8("big")).setValue(ByteString.copyFrom(big)))).build(),
        Response.newBuilder().setId(4).setError(Error.newBuilder().setCode(Error.Code.TIMEOUT).setMessage("m"))
            .build());
  }

  private static byte[] framed(List<Response> list) throws IOException {
    var out = new ByteArrayOutputStream();
    for (var r : list) {
      r.writeDelimitedTo(out);
    }
    return out.toByteArray();
  }

  @Test
  void readsWhatWriteDelimitedToWroteThenNullAtTheEnd() throws IOException {
    var expected = answers();
    var reader = new DelimitedReader<>(new ByteArrayInputStream(framed(expected)), Response.parser());
    var got = new ArrayList<Response>();
    for (Response r; (r = reader.next()) != null; ) {
      got.add(r);
    }
    assertEquals(expected, got);
    assertNull(reader.next());
  }

  @Test
  void aMessageCutShortIsAnIoException() throws IOException {
    var bytes = framed(answers());
    var cut = Arrays.copyOf(bytes, bytes.length - 50_000); // ends inside the big message
    var reader = new DelimitedReader<>(new ByteArrayInputStream(cut), Response.parser());
    reader.next();
    reader.next();
    assertThrows(IOException.class, reader::next);
  }
}
