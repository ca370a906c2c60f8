package dev.kvraft.server.net;

import java.io.BufferedOutputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One TCP (or TLS) connection of an {@link AddressLink} to the leader: its socket, its output (a buffer between two
 * byte counts), and the requests written to it that await an answer, each with the offset where its frame starts.
 * The byte counts are what lets {@link #breakOff} tell a request that may have reached the leader from one that
 * certainly did not. The link's writer thread writes {@link #out}; the table is guarded by this object's lock, which
 * the writer ({@link #begin}), the reader ({@link #answered}) and whoever breaks the connection take.
 */
final class LinkConnection {
  private final Socket socket;
  /** Bytes handed to the socket's stream, counted before each is handed (a write under way counts). */
  private final CountingOutputStream handedDown;
  /** What the writer writes: bytes counted here go to the buffer, then to {@link #handedDown}, in order. */
  final CountingOutputStream out;
  /** Request id → where its frame starts in {@link #out}, and its deadline; emptied when the connection breaks. */
  private final Map<Long, Written> unanswered = new HashMap<>();
  private boolean broken;

  LinkConnection(Socket socket, int bufferBytes) throws IOException {
    this.socket = socket;
    this.handedDown = new CountingOutputStream(socket.getOutputStream());
    this.out = new CountingOutputStream(new BufferedOutputStream(handedDown, bufferBytes));
  }

  synchronized boolean isBroken() {
    return broken;
  }

  /** The writer is about to write this request: false (write nothing) when the connection broke already. */
  synchronized boolean begin(long id, long deadline) {
    if (broken) {
      return false;
    }
    unanswered.put(id, new Written(out.count(), deadline));
    return true;
  }

  /** A request written here: the offset where its frame starts, and its deadline ({@link System#nanoTime()}). */
  private record Written(long start, long deadline) {}

  /** Whether a request written here waits for an answer and its deadline has not come at {@code now}. */
  synchronized boolean awaitsAnswer(long now) {
    if (broken) {
      return false;
    }
    for (var w : unanswered.values()) {
      if (w.deadline() - now > 0) {
        return true;
      }
    }
    return false;
  }

  /** The leader answered: whether the request was still waiting here (else it was reported failed already). */
  synchronized boolean answered(long id) {
    return unanswered.remove(id) != null;
  }

  record Lost(List<Long> maybeSent, List<Long> notSent) {}

  /**
   * Closes the socket and takes the unanswered requests out, split by whether any of their bytes was handed to
   * the socket; null when the connection was broken already. The socket is closed before the count is read: a
   * write that starts after the close fails, so a request counted as not handed down can never reach the leader.
   */
  Lost breakOff() {
    synchronized (this) {
      if (broken) {
        return null;
      }
      broken = true;
    }
    try {
      socket.close();
    } catch (IOException ignored) {
      // already broken
    }
    synchronized (this) {
      long handed = handedDown.count();
      var maybeSent = new ArrayList<Long>();
      var notSent = new ArrayList<Long>();
      unanswered.forEach((id, w) -> (w.start() < handed ? maybeSent : notSent).add(id));
      unanswered.clear();
      return new Lost(maybeSent, notSent);
    }
  }

  /** Counts the bytes written through it; each write is counted before it is passed on. */
  static final class CountingOutputStream extends FilterOutputStream {
    private final AtomicLong count = new AtomicLong();

    CountingOutputStream(OutputStream out) {
      super(out);
    }

    long count() {
      return count.get();
    }

    @Override
    public void write(int b) throws IOException {
      count.incrementAndGet();
      out.write(b);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      count.addAndGet(len);
      out.write(b, off, len);
    }
  }
}
