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
    if (entry.getOpsCount() == 0 && entry.getMemberToken().isEmpty()) {
      return "no operations (a leader confirming its leadership for linearizable reads)";
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
      case AUTH -> auth(op.getAuth());
      case COMPACT -> "compact to revision " + op.getCompact().getRevision();
      case LEASE_GRANT -> "lease grant " + (op.getLeaseGrant().getId() == 0 ? "(new id)" : op.getLeaseGrant().getId())
          + " ttl " + op.getLeaseGrant().getTtlSeconds() + " s";
      case LEASE_REVOKE -> op.getLeaseRevoke().getExpired()
          ? "lease " + op.getLeaseRevoke().getId() + " expired: its keys deleted"
          : "lease revoke " + op.getLeaseRevoke().getId() + ": its keys deleted";
      case LEASE_CHECKPOINT -> "lease keep-alive " + op.getLeaseCheckpoint().getLeasesList().stream()
          .map(l -> Long.toString(l.getId())).collect(java.util.stream.Collectors.joining(" "));
      case ALARM -> "alarm " + op.getAlarm().getAction().name().toLowerCase(java.util.Locale.ROOT)
          + (op.getAlarm().getNodeId().isEmpty() ? "" : " NOSPACE on " + op.getAlarm().getNodeId());
      case OP_NOT_SET -> "empty";
    };
  }

  /** A user or role change as the mirror shows it: {@code user add alice}; never a password or its hash. */
  static String auth(dev.kvraft.proto.AuthChange c) {
    return switch (c.getAction()) {
      case USER_ADD -> "user add " + c.getName() + (c.getPasswordHash().isEmpty() ? " (no password)" : "");
      case USER_DELETE -> "user delete " + c.getName();
      case USER_PASSWORD -> "user passwd " + c.getName();
      case USER_GRANT_ROLE -> "user grant-role " + c.getName() + " " + c.getRole();
      case USER_REVOKE_ROLE -> "user revoke-role " + c.getName() + " " + c.getRole();
      case ROLE_ADD -> "role add " + c.getRole();
      case ROLE_DELETE -> "role delete " + c.getRole();
      case ROLE_GRANT -> "role grant " + c.getRole() + " "
          + dev.kvraft.proto.Permissions.describe(c.getPermission());
      case ROLE_REVOKE -> "role revoke " + c.getRole() + " "
          + dev.kvraft.proto.Permissions.describe(c.getPermission());
      case AUTH_ENABLE -> "auth enable";
      case AUTH_DISABLE -> "auth disable";
      case UNRECOGNIZED -> "auth change " + c.getActionValue();
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
