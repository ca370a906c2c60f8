package dev.kvraft.server.net;

import java.util.concurrent.atomic.LongAdder;

/**
 * Bytes the client port read and wrote since start, for metrics. Shared by every connection's threads; adders, so
 * counting costs no contention.
 */
public final class NetStats {
  private final LongAdder bytesIn = new LongAdder();
  private final LongAdder bytesOut = new LongAdder();

  void read(long bytes) {
    bytesIn.add(bytes);
  }

  void wrote(long bytes) {
    bytesOut.add(bytes);
  }

  public long bytesIn() {
    return bytesIn.sum();
  }

  public long bytesOut() {
    return bytesOut.sum();
  }
}
