package dev.kvraft.server.config;

/**
 * Request limits, enforced on the connection thread before any work is done.
 *
 * @param maxFrameBytes largest request frame accepted (the varint length prefix excluded)
 * @param maxKeyBytes   largest key; keys are 1..maxKeyBytes bytes
 * @param maxValueBytes largest value
 * @param maxScanLimit  most key-values one Scan returns, and the default when it names none
 * @param maxAnswerBytes bytes of key-values at which a scan answer, or a write's answer (a txn's gets, previous and
 *                      deleted key-values together), stops (the one that reaches it is the last; a scan holds at
 *                      least one): a scan then says {@code more}, a delete {@code prev_truncated}, a txn's get
 *                      {@code truncated} and put {@code prev_truncated}
 * @param maxTxnOps     most compares, and most operations per branch, in one Txn
 * @param maxConnections most open client connections; past it a new one gets one OVERLOADED frame and is closed
 */
public record Limits(int maxFrameBytes, int maxKeyBytes, int maxValueBytes, int maxScanLimit, int maxAnswerBytes,
    int maxTxnOps, int maxConnections) {

  public static final Limits DEFAULT = new Limits(4 << 20, 4096, 1 << 20, 10_000, 4 << 20, 128, 10_000);

  public Limits {
    positive("limit.frame.bytes", maxFrameBytes);
    positive("limit.key.bytes", maxKeyBytes);
    positive("limit.value.bytes", maxValueBytes);
    positive("limit.scan", maxScanLimit);
    positive("limit.answer.bytes", maxAnswerBytes);
    positive("limit.txn.ops", maxTxnOps);
    positive("limit.connections", maxConnections);
  }

  private static void positive(String name, int value) {
    if (value <= 0) {
      throw new IllegalArgumentException(name + " must be positive, got " + value);
    }
  }
}
