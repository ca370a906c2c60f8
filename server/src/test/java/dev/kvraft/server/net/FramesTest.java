package dev.kvraft.server.net;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.kvraft.server.testing.Requests;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import org.junit.jupiter.api.Test;

class FramesTest {
  @Test
  void readsWhatWriteDelimitedToWrote() throws IOException {
    var out = new ByteArrayOutputStream();
    var r = Requests.put(7, "key", "x".repeat(300));
    r.writeDelimitedTo(out);
    var frame = Frames.read(new ByteArrayInputStream(out.toByteArray()), 1000);
    assertArrayEquals(r.toByteArray(), assertInstanceOf(Frames.Body.class, frame).bytes());
  }

  @Test
  void endBetweenFramesIsClean() throws IOException {
    assertInstanceOf(Frames.End.class, Frames.read(new ByteArrayInputStream(new byte[0]), 10));
  }

  @Test
  void endInsideAFrameIsAnError() {
    assertThrows(EOFException.class, () -> Frames.read(new ByteArrayInputStream(new byte[] {5, 1, 2}), 10));
    assertThrows(EOFException.class, () -> Frames.read(new ByteArrayInputStream(new byte[] {(byte) 0x80}), 10));
  }

  @Test
  void oversizeFrameIsReportedWithoutReadingItsBody() throws IOException {
    var out = new ByteArrayOutputStream();
    var r = Requests.put(300, "key", "x".repeat(2000));
    r.writeDelimitedTo(out);
    var frame = assertInstanceOf(Frames.Oversize.class, Frames.read(new ByteArrayInputStream(out.toByteArray()), 100));
    assertEquals(r.getSerializedSize(), frame.length());
    assertEquals(300, Frames.leadingId(frame.prefix()), "the id is recovered from the frame's first bytes");
  }

  @Test
  void bareOversizePrefixIsAnsweredWithoutWaitingForMoreBytes() throws IOException {
    // 2^31 as a varint, then nothing: a read past these bytes would block on a socket, so here it fails the test.
    var prefix = new byte[] {(byte) 0x80, (byte) 0x80, (byte) 0x80, (byte) 0x80, 0x08};
    var in = new java.io.InputStream() {
      int next;

      @Override
      public int read() {
        if (next == prefix.length) {
          throw new AssertionError("read past the length prefix of an oversize frame");
        }
        return prefix[next++] & 0xff;
      }

      @Override
      public int available() {
        return prefix.length - next;
      }
    };
    var frame = assertInstanceOf(Frames.Oversize.class, Frames.read(in, 4 << 20));
    assertEquals(1L << 31, frame.length());
    assertEquals(0, frame.prefix().length);
  }

  @Test
  void overlongVarintIsABadLength() throws IOException {
    var bytes = new byte[] {(byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, 1};
    assertInstanceOf(Frames.BadLength.class, Frames.read(new ByteArrayInputStream(bytes), 10));
  }

  @Test
  void leadingIdIsZeroWhenTheFrameDoesNotStartWithIt() {
    assertEquals(0, Frames.leadingId(new byte[] {0x12, 0x01}));
    assertEquals(0, Frames.leadingId(new byte[0]));
    assertEquals(0, Frames.leadingId(new byte[] {0x08, (byte) 0x80}), "truncated varint");
  }
}
