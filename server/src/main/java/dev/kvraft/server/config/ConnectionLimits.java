package dev.kvraft.server.config;

import java.time.Duration;

/**
 * What one client connection, and all of them together, may hold of the server's memory and time (issue #15).
 * Immutable.
 *
 * @param outboxBytes        answers queued for one connection that its client has not read yet
 *                           ({@code limit.outbox.bytes}); past it the server stops reading that connection's requests
 * @param outboxTotalBytes   the same over every connection ({@code limit.outbox.total.bytes})
 * @param inflightBytes      requests read from one connection and not yet answered, by their frame length
 *                           ({@code limit.inflight.bytes}); past it the server stops reading that connection's requests
 *                           until answers free room (one request larger than it is read when none is in flight)
 * @param inflightTotalBytes the same over every connection ({@code limit.inflight.total.bytes})
 * @param writeTimeout       how long a connection may stay over its outbox bound before it is closed
 *                           ({@code client.write.timeout.ms})
 * @param frameTimeout       a frame whose first byte arrived must be complete within this
 *                           ({@code client.frame.timeout.ms}): a slowloris is closed
 * @param partialFramesBytes bytes of frames being received, over every connection ({@code limit.partial.frames.bytes});
 *                           a frame that would go past it is refused OVERLOADED
 * @param idleTimeout        a connection with nothing to read and nothing pending this long is closed
 *                           ({@code client.idle.timeout.ms}); zero: never
 * @param perAddress         open connections from one client address (an IPv6 one's /64) at most
 *                           ({@code limit.connections.per.address}); zero: auto, a quarter of {@code limit.connections}
 *                           in force, at least 100 (or all of them, when fewer)
 */
public record ConnectionLimits(long outboxBytes, long outboxTotalBytes, long inflightBytes, long inflightTotalBytes,
    Duration writeTimeout, Duration frameTimeout, long partialFramesBytes, Duration idleTimeout, int perAddress) {

  public ConnectionLimits {
    positive("limit.outbox.bytes", outboxBytes);
    positive("limit.outbox.total.bytes", outboxTotalBytes);
    positive("limit.inflight.bytes", inflightBytes);
    positive("limit.inflight.total.bytes", inflightTotalBytes);
    positive("client.write.timeout.ms", writeTimeout.toMillis());
    positive("client.frame.timeout.ms", frameTimeout.toMillis());
    positive("limit.partial.frames.bytes", partialFramesBytes);
    if (perAddress < 0) {
      throw new IllegalArgumentException("limit.connections.per.address must be auto or positive, got " + perAddress);
    }
    if (idleTimeout.isNegative()) {
      throw new IllegalArgumentException("client.idle.timeout.ms must be 0 (off) or positive, got "
          + idleTimeout.toMillis());
    }
  }

  /** {@link #perAddress} in force when {@code maxConnections} may be open in all. */
  public int perAddressOf(int maxConnections) {
    return perAddress > 0 ? perAddress : Math.max(Math.min(100, maxConnections), maxConnections / 4);
  }

  /** "auto" for the three memory totals: a quarter of the heap the JVM may use, at least 64 MiB. */
  static long autoBytes() {
    return Math.max(64L << 20, Runtime.getRuntime().maxMemory() / 4);
  }

  private static void positive(String name, long value) {
    if (value <= 0) {
      throw new IllegalArgumentException(name + " must be positive, got " + value);
    }
  }
}
