package dev.kvraft.server.net;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import com.google.protobuf.CodedInputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.kvraft.proto.Request;
import java.io.ByteArrayInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.util.Arrays;

/**
 * Fuzzes the client frame decoder the way {@code FrameReader} drives it: frames are read one after another
 * from a stream that delivers the fuzzer's bytes in fuzzer-chosen chunk sizes, until the stream ends or a frame
 * closes the connection. Each read must return a frame or throw {@link EOFException} (the only exception
 * {@link Frames#read} documents), and what it returns is checked against protobuf's own varint decoder:
 *
 * <ul>
 *   <li>a {@link Frames.Body} is exactly the announced number of bytes that followed the prefix, at most the limit;
 *   <li>an {@link Frames.Oversize} announced more than the limit and kept at most {@link Frames#PREFIX_BYTES};
 *   <li>a {@link Frames.BadLength} prefix had six bytes in a row with the continuation bit set;
 *   <li>nothing past the current frame is read (the next frame starts where this one ended).
 * </ul>
 *
 * Seeds: {@code src/test/resources/dev/kvraft/server/net/FramesFuzzTestInputs/decodesOnlyWhatWasSent/}. Fuzzing
 * mode: TESTING.md, "Fuzzing".
 */
class FramesFuzzTest {

  @FuzzTest(maxDuration = "2m")
  void decodesOnlyWhatWasSent(FuzzedDataProvider data) throws IOException {
    int maxBytes = data.consumeInt(1, 300);
    int chunk = data.consumeInt(1, 64);
    byte[] input = data.consumeRemainingAsBytes();
    var in = new ChunkedStream(input, chunk);
    for (int frames = 0; frames <= input.length; frames++) {
      int start = in.position();
      Frames.Frame frame;
      var roomTaken = new long[1];
      try {
        frame = Frames.read(in, maxBytes, bytes -> {
          roomTaken[0] += bytes;
          return true;
        });
      } catch (EOFException e) {
        assertEquals(input.length, in.position(), "EOFException although input was left: " + e.getMessage());
        return;
      }
      switch (frame) {
        case Frames.End end -> {
          assertEquals(input.length, start, "End although input was left");
          return;
        }
        case Frames.BadLength bad -> {
          assertTrue(in.position() - start == 6 && allContinue(input, start, 6),
              "BadLength after " + (in.position() - start) + " bytes: " + hex(input, start, in.position()));
          return; // the connection is closed after a bad length
        }
        case Frames.Oversize over -> {
          var prefix = reference(input, start);
          assertEquals(prefix.length, over.length(), "announced length");
          assertTrue(over.length() > maxBytes, "Oversize " + over.length() + " within the limit " + maxBytes);
          assertTrue(over.prefix().length <= Math.min(Frames.PREFIX_BYTES, over.length()),
              "kept " + over.prefix().length + " bytes of an oversize frame");
          assertArrayEquals(Arrays.copyOfRange(input, start + prefix.bytes, start + prefix.bytes
              + over.prefix().length), over.prefix());
          Frames.leadingId(over.prefix()); // must not throw
          return; // the connection is closed after TOO_LARGE
        }
        case Frames.NoRoom refused -> fail("refused although the room said yes: " + refused);
        case Frames.Body body -> {
          var prefix = reference(input, start);
          assertEquals(prefix.length, body.bytes().length, "body length");
          assertEquals(body.bytes().length, roomTaken[0], "room taken for the body: exactly its length in the end");
          assertTrue(body.bytes().length <= maxBytes, "body of " + body.bytes().length + " over " + maxBytes);
          assertEquals(start + prefix.bytes + body.bytes().length, in.position(), "read past the frame");
          assertArrayEquals(Arrays.copyOfRange(input, start + prefix.bytes, in.position()), body.bytes());
          Frames.leadingId(body.bytes()); // must not throw
          try {
            Request.parseFrom(body.bytes());
          } catch (InvalidProtocolBufferException e) {
            // answered INVALID_ARGUMENT by FrameReader; the next frame is still read
          }
        }
      }
    }
    throw new AssertionError("more frames than input bytes: the decoder does not advance");
  }

  /** The length prefix at {@code start} as protobuf decodes it: its value and how many bytes it took. */
  private record Prefix(long length, int bytes) {}

  private static Prefix reference(byte[] input, int start) throws IOException {
    var coded = CodedInputStream.newInstance(input, start, input.length - start);
    long length = coded.readRawVarint64();
    return new Prefix(length, coded.getTotalBytesRead());
  }

  private static boolean allContinue(byte[] input, int start, int n) {
    for (int i = start; i < start + n; i++) {
      if ((input[i] & 0x80) == 0) {
        return false;
      }
    }
    return true;
  }

  private static String hex(byte[] input, int from, int to) {
    return java.util.HexFormat.of().formatHex(input, from, to);
  }

  /** Delivers at most {@code chunk} bytes per read, as a socket does; counts what was consumed. */
  private static final class ChunkedStream extends InputStream {
    private final ByteArrayInputStream in;
    private final int chunk;
    private int position;

    ChunkedStream(byte[] bytes, int chunk) {
      this.in = new ByteArrayInputStream(bytes);
      this.chunk = chunk;
    }

    int position() {
      return position;
    }

    @Override
    public int read() {
      int b = in.read();
      if (b >= 0) {
        position++;
      }
      return b;
    }

    @Override
    public int read(byte[] b, int off, int len) {
      int n = in.read(b, off, Math.min(len, chunk));
      if (n > 0) {
        position += n;
      }
      return n;
    }
  }
}
