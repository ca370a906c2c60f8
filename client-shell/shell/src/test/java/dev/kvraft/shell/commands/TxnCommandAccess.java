package dev.kvraft.shell.commands;

import dev.kvraft.proto.Compare;
import dev.kvraft.proto.Op;

/** Opens TxnCommand's parsers to tests in other packages. */
public final class TxnCommandAccess {
  private TxnCommandAccess() {}

  public static Compare compare(String line) {
    return TxnCommand.compare(line);
  }

  public static Op op(String line) {
    return TxnCommand.op(line);
  }

  public static java.util.List<String> lines(dev.kvraft.proto.Txn built, dev.kvraft.proto.TxnResult result) {
    return TxnCommand.lines(built, result);
  }

  public static java.util.Map<String, Object> json(dev.kvraft.proto.Txn built, dev.kvraft.proto.TxnResult result) {
    return TxnCommand.json(built, result);
  }
}
