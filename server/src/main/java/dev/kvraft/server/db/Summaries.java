package dev.kvraft.server.db;

import com.google.protobuf.ByteString;
import dev.kvraft.proto.LogEntry;
import dev.kvraft.proto.WriteOp;
import java.util.HexFormat;

/** Short human-readable summaries of log entries, for the {@code summary} column an operator reads. */
public final class Summaries {
  private static final int MAX_OPS = 5;
  private static final int MAX_BYTES = 32;

  private Summaries() {}

  /** E.g. {@code put a=1; delete b; txn 2 compares (+3 more)}. */
  public static String of(LogEntry entry) {
    var sb = new StringBuilder();
    if (!entry.getMemberToken().isEmpty()) {
      sb.append("member token set");  // never the token itself
    }
    int n = Math.min(MAX_OPS, entry.getOpsCount());
    for (int i = 0; i < n; i++) {
      if (i > 0) {
        sb.append("; ");
      }
      sb.append(of(entry.getOps(i)));
    }
    if (entry.getOpsCount() > n) {
      sb.append(" (+").append(entry.getOpsCount() - n).append(" more)");
    }
    return sb.toString();
  }

  public static String of(WriteOp op) {
    return switch (op.getOpCase()) {
      case PUT -> "put " + show(op.getPut().getKey()) + "=" + show(op.getPut().getValue());
      case DELETE -> op.getDelete().getRangeEnd().isEmpty()
          ? "delete " + show(op.getDelete().getKey())
          : "delete [" + show(op.getDelete().getKey()) + ", " + show(op.getDelete().getRangeEnd()) + ")";
      case TXN -> "txn " + op.getTxn().getCompareCount() + " compares, " + op.getTxn().getSuccessCount()
          + " success ops, " + op.getTxn().getFailureCount() + " failure ops";
      case OP_NOT_SET -> "empty";
    };
  }

  /** UTF-8 text when printable, else hex; cut to a readable length. */
  public static String show(ByteString bytes) {
    var cut = bytes.size() > MAX_BYTES ? bytes.substring(0, MAX_BYTES) : bytes;
    var suffix = bytes.size() > MAX_BYTES ? "…(" + bytes.size() + " bytes)" : "";
    if (cut.isValidUtf8()) {
      var s = cut.toStringUtf8();
      if (s.codePoints().noneMatch(cp -> Character.isISOControl(cp))) {
        return s + suffix;
      }
    }
    return "0x" + HexFormat.of().formatHex(cut.toByteArray()) + suffix;
  }
}
