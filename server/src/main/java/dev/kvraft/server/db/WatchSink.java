package dev.kvraft.server.db;

import dev.kvraft.proto.Response;

/**
 * The connection a watch streams to: besides the answer to each request ({@link Replier#reply}), more messages for
 * one request id. Implemented by the client connection; thread-safe.
 */
public interface WatchSink extends Replier {
  /**
   * Database loop only: stages one stream message if the connection has room for it (its unread answers stay under
   * half of {@code limit.outbox.bytes}); never blocks. False: nothing was staged, the watcher must catch up later.
   * Staged messages go to the client, in order, at the next {@link #send}: one hand-over to the connection's writer
   * per loop turn, however many of its watchers had events.
   */
  boolean offer(Response message);

  /** Database loop only: hands the staged messages to the connection's writer. */
  void send();

  /**
   * A catch-up thread's: queues one stream message for the writer at once, waiting for room up to
   * {@code client.write.timeout.ms} (a message larger than the room goes once nothing else is queued). False: no room
   * came in time, or the connection closed.
   */
  boolean put(Response message) throws InterruptedException;

  /**
   * Waits until the connection has room for watch messages again, up to {@code client.write.timeout.ms}. False: it
   * stayed full (the client reads nothing), or closed.
   */
  boolean awaitRoom() throws InterruptedException;

  boolean isOpen();

  /** The client will get no more of the messages it does not read: the connection is closed. */
  void close();

  /** A watch opened ({@code +1}) or ended ({@code -1}) on this connection: one with watches open is not idle. */
  void watching(int delta);

  /** Who is on the other end, for logs. */
  String peer();

  @Override
  default WatchSink watchSink() {
    return this;
  }
}
