package dev.kvraft.client;

import dev.kvraft.proto.Error;

/** The revision asked for is compacted away; {@link #compactRevision()} is where history now starts. */
public final class CompactedException extends KvException {
  private final long compactRevision;

  public CompactedException(String message) {
    this(message, 0);
  }

  public CompactedException(String message, long compactRevision) {
    super(Error.Code.COMPACTED, message, "");
    this.compactRevision = compactRevision;
  }

  /** The oldest revision history still holds (0 when the server did not say). */
  public long compactRevision() {
    return compactRevision;
  }
}
