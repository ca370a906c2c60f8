package dev.kvraft.server.db;

import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;

/** A leader link that records what it was asked to send, or refuses everything while {@link #full}. */
final class FakeLink implements Forwarder {
  record Sent(String address, List<Forward> batch) {}

  final BlockingQueue<Sent> sent = new LinkedBlockingQueue<>();
  final BlockingQueue<Sent> refused = new LinkedBlockingQueue<>();
  volatile boolean full;

  @Override
  public boolean send(String address, List<Forward> batch) {
    (full ? refused : sent).add(new Sent(address, batch));
    return !full;
  }
}
