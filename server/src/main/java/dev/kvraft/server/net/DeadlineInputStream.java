package dev.kvraft.server.net;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;

/**
 * A socket's input with the two waits a client may impose on the server bounded: between frames, at most the idle
 * timeout (0: no bound); inside a frame, until the frame's deadline, however slowly its bytes trickle in (a slowloris
 * sending one byte a second gets the whole frame timeout, not one read timeout per byte). Used only by the
 * connection's reader thread, but for {@link #overran}: the socket's read timeout is armed once per read, and under
 * TLS one read takes a whole record, each of its bytes under a fresh timeout, so a record trickling in would outlive
 * the frame's deadline; the listener's sweeper closes such a connection ({@link ClientConnection#closeIfFrameOverdue}).
 */
final class DeadlineInputStream extends FilterInputStream {
  private final Socket socket;
  private final int idleMillis;
  private long frameDeadline;
  private boolean inFrame;
  /**
   * The frame's deadline ({@link System#nanoTime()}) while a read inside a frame is in progress, else 0: written by the
   * reader around each read, read by the listener's sweeper ({@link #overran}).
   */
  private volatile long readingUntil;
  /** Reader thread only: what {@link #skip} reads into, allocated with the first skip (an oversize frame's). */
  private byte[] scratch;

  DeadlineInputStream(Socket socket, InputStream in, int idleMillis) {
    super(in);
    this.socket = socket;
    this.idleMillis = idleMillis;
  }

  /** Between frames: reads wait at most the idle timeout. */
  void betweenFrames() {
    inFrame = false;
  }

  /** A frame has started: the rest of it must arrive by {@code deadline} ({@link System#nanoTime()}). */
  void frameStarted(long deadline) {
    inFrame = true;
    frameDeadline = deadline;
  }

  boolean inFrame() {
    return inFrame;
  }

  private void arm() throws IOException {
    if (inFrame) {
      long left = (frameDeadline - System.nanoTime()) / 1_000_000;
      if (left <= 0) {
        throw new FrameTimeoutException();
      }
      socket.setSoTimeout((int) Math.min(Integer.MAX_VALUE, left));
      readingUntil = frameDeadline == 0 ? 1 : frameDeadline;
    } else {
      socket.setSoTimeout(idleMillis);
    }
  }

  /**
   * Whether a read inside a frame has been in progress for more than {@code graceNanos} past the frame's deadline: its
   * bytes trickle in inside one TLS record, which the socket's read timeout does not bound. Any thread.
   */
  boolean overran(long now, long graceNanos) {
    long until = readingUntil;
    return until != 0 && now - until > graceNanos;
  }

  @Override
  public int read() throws IOException {
    arm();
    try {
      return super.read();
    } catch (SocketTimeoutException e) {
      throw inFrame ? new FrameTimeoutException() : e;
    } finally {
      readingUntil = 0;
    }
  }

  @Override
  public int read(byte[] b, int off, int len) throws IOException {
    arm();
    try {
      return super.read(b, off, len);
    } catch (SocketTimeoutException e) {
      throw inFrame ? new FrameTimeoutException() : e;
    } finally {
      readingUntil = 0;
    }
  }

  /**
   * Skips by one {@link #read} under the same deadlines, 0 at the end of the stream: the socket's own skip reads on
   * until it has skipped {@code n} bytes, each read under a fresh timeout, so an oversize frame's rest trickling in
   * kept its connection past the deadline.
   */
  @Override
  public long skip(long n) throws IOException {
    if (n <= 0) {
      return 0;
    }
    if (scratch == null) {
      scratch = new byte[8192];
    }
    return Math.max(0, read(scratch, 0, (int) Math.min(n, scratch.length)));
  }

  /** The frame that started did not arrive whole before its deadline. */
  static final class FrameTimeoutException extends SocketTimeoutException {
    FrameTimeoutException() {
      super("the frame did not arrive whole within client.frame.timeout.ms");
    }
  }
}
