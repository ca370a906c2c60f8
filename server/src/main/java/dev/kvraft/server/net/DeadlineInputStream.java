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
 * connection's reader thread.
 */
final class DeadlineInputStream extends FilterInputStream {
  private final Socket socket;
  private final int idleMillis;
  private long frameDeadline;
  private boolean inFrame;

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
    } else {
      socket.setSoTimeout(idleMillis);
    }
  }

  @Override
  public int read() throws IOException {
    arm();
    try {
      return super.read();
    } catch (SocketTimeoutException e) {
      throw inFrame ? new FrameTimeoutException() : e;
    }
  }

  @Override
  public int read(byte[] b, int off, int len) throws IOException {
    arm();
    try {
      return super.read(b, off, len);
    } catch (SocketTimeoutException e) {
      throw inFrame ? new FrameTimeoutException() : e;
    }
  }

  /** The frame that started did not arrive whole before its deadline. */
  static final class FrameTimeoutException extends SocketTimeoutException {
    FrameTimeoutException() {
      super("the frame did not arrive whole within client.frame.timeout.ms");
    }
  }
}
