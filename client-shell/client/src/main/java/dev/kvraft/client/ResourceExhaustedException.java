package dev.kvraft.client;

import dev.kvraft.proto.Error;

/**
 * The cluster is out of space (a NOSPACE alarm): a write that adds data was refused and not applied. Reads and
 * deletes still work; retry once an operator made room and disarmed the alarm ({@link KvClient#disarmAlarms}).
 */
public final class ResourceExhaustedException extends KvException {
  public ResourceExhaustedException(String message) {
    super(Error.Code.RESOURCE_EXHAUSTED, message, "");
  }
}
