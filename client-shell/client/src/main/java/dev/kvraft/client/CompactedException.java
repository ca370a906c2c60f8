package dev.kvraft.client;

import dev.kvraft.proto.Error;

/** The revision asked for is compacted away; the message names the compact revision, where history now starts. */
public final class CompactedException extends KvException {
  public CompactedException(String message) {
    super(Error.Code.COMPACTED, message, "");
  }
}
