package dev.kvraft.server.net;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;

/**
 * Reads length-delimited frames (a base-128 varint length, then that many bytes) with a size limit checked before
 * any body byte is read, so an oversize frame costs no memory.
 */
public final class Frames {
  private Frames() {}

  /** What one read produced. */
  public sealed interface Frame {}

  /** A whole frame body. */
  public record Body(byte[] bytes) implements Frame {}

  /**
   * The frame announced {@code length} bytes, over the limit; {@code prefix} is those of its first bytes that had
   * already arrived (possibly none: the answer never waits for more).
   */
  public record Oversize(long length, byte[] prefix) implements Frame {}

  /** The length prefix itself is not a valid varint. */
  public record BadLength() implements Frame {}

  /** The peer closed the connection cleanly between frames. */
  public record End() implements Frame {}

  /**
   * The frame's body got no {@link Room} for its next bytes after {@code received} of its {@code length};
   * {@code prefix} holds its first bytes (up to {@link #PREFIX_BYTES}: the request id is there).
   */
  public record NoRoom(long length, long received, byte[] prefix) implements Frame {}

  /**
   * Room in memory for a frame's body, taken as its bytes arrive: {@link #take} is asked before the body's buffer
   * grows by that many bytes. False refuses the frame, which reads no further.
   */
  @FunctionalInterface
  public interface Room {
    boolean take(int bytes);
  }

  /**
   * The body's first buffer, taken once the length prefix is read: a larger body's grows (doubling) each time it is
   * full, so it holds at most about twice what has arrived.
   */
  static final int FIRST_BUFFER = 4 * 1024;

  /** How many bytes of an oversize frame are read to find its request id. */
  static final int PREFIX_BYTES = 11;

  /**
   * Reads a frame's length prefix, or -1 when it is not a valid varint; the caller marks and resets the stream to
   * look at the length before the frame is read (the connection reserves room for it first).
   *
   * @throws EOFException when the connection ends inside the prefix
   */
  public static long readLength(InputStream in) throws IOException {
    int first = in.read();
    if (first < 0) {
      throw new EOFException("connection closed inside a frame length");
    }
    return lengthFrom(first, in);
  }

  /** The rest of a length prefix whose first byte was {@code first}: -1 when it does not end within 6 bytes. */
  private static long lengthFrom(int first, InputStream in) throws IOException {
    long length = first & 0x7f;
    int b = first;
    for (int shift = 7; (b & 0x80) != 0; shift += 7) {
      if (shift > 35) {
        return -1;
      }
      b = in.read();
      if (b < 0) {
        throw new EOFException("connection closed inside a frame length");
      }
      length |= (long) (b & 0x7f) << shift;
    }
    return length;
  }

  /**
   * Reads one frame, with no bound on the memory its body takes but {@code maxBytes}.
   *
   * @throws EOFException when the connection ends inside a frame
   */
  public static Frame read(InputStream in, int maxBytes) throws IOException {
    return read(in, maxBytes, bytes -> true);
  }

  /**
   * Reads one frame, taking {@code room} for its body as its bytes arrive: a peer that announces a large frame and
   * sends it slowly holds only about twice what it sent (at least {@link #FIRST_BUFFER}, at most the frame's length).
   *
   * @throws EOFException when the connection ends inside a frame
   */
  public static Frame read(InputStream in, int maxBytes, Room room) throws IOException {
    int first = in.read();
    if (first < 0) {
      return new End();
    }
    long length = lengthFrom(first, in);
    if (length < 0) {
      return new BadLength();
    }
    if (length > maxBytes) {
      // Answer at once: take only the id bytes already received, never wait for more of a frame we refuse.
      int ready = (int) Math.min(Math.min(PREFIX_BYTES, length), Math.max(0, in.available()));
      return new Oversize(length, in.readNBytes(ready));
    }
    return body(in, (int) length, room);
  }

  private static Frame body(InputStream in, int length, Room room) throws IOException {
    if (length == 0) {
      return new Body(new byte[0]);
    }
    var body = new byte[Math.min(length, FIRST_BUFFER)];
    if (!room.take(body.length)) {
      return new NoRoom(length, 0, new byte[0]);
    }
    int received = 0;
    while (received < length) {
      if (received == body.length) {
        int grown = (int) Math.min(length, 2L * body.length);
        if (!room.take(grown - body.length)) {
          return new NoRoom(length, received, java.util.Arrays.copyOf(body, Math.min(received, PREFIX_BYTES)));
        }
        body = java.util.Arrays.copyOf(body, grown);
      }
      int n = in.read(body, received, body.length - received);
      if (n < 0) {
        throw new EOFException("connection closed inside a frame: " + received + " of " + length + " bytes");
      }
      received += n;
    }
    return new Body(body);
  }

  /**
   * The request id at the start of a (possibly partial) encoded {@code Request}, or 0 when the frame does not start
   * with it. Protobuf writers put field 1 first, so this finds the id of any well-behaved client's frame.
   */
  public static long leadingId(byte[] bytes) {
    if (bytes.length == 0 || bytes[0] != 0x08) {
      return 0;
    }
    long id = 0;
    for (int i = 1, shift = 0; i < bytes.length && shift < 64; i++, shift += 7) {
      id |= (long) (bytes[i] & 0x7f) << shift;
      if ((bytes[i] & 0x80) == 0) {
        return id;
      }
    }
    return 0;
  }
}
