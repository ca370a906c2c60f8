package dev.kvraft.server.net;

import com.google.protobuf.ByteString;
import dev.kvraft.proto.Compare;
import dev.kvraft.proto.Error;
import dev.kvraft.proto.Op;
import dev.kvraft.proto.Request;
import dev.kvraft.server.config.Limits;
import dev.kvraft.server.db.KvState;
import java.util.List;
import java.util.Optional;

/**
 * Checks a request against the limits and the protocol's rules before any work is done. Stateless; runs on the
 * connection's thread, so a bad request never reaches the database loop or the log.
 */
public final class RequestValidator {
  private final Limits limits;

  public RequestValidator(Limits limits) {
    this.limits = limits;
  }

  /** The error to answer with, or empty when the request is fine. */
  public Optional<Error> validate(Request r) {
    try {
      switch (r.getCommandCase()) {
        case GET -> key("get", r.getGet().getKey());
        case PUT -> put("put", r.getPut());
        case DELETE -> delete("delete", r.getDelete());
        case SCAN -> scan(r.getScan());
        case TXN -> txn(r.getTxn());
        case MEMBER_CHANGE -> memberChange(r.getMemberChange());
        case BACKUP_CHUNK -> backupChunk(r.getBackupChunk());
        case AUTHENTICATE -> name("authenticate: user", r.getAuthenticate().getUser());
        case AUTH_CHANGE -> authChange(r.getAuthChange());
        case AUTH_READ -> { }
        case WATCH -> {
          range("watch", r.getWatch().getKey(), r.getWatch().getRangeEnd());
          revision("watch: start_revision", r.getWatch().getStartRevision());
        }
        case COMPACT -> revision("compact: revision", r.getCompact().getRevision());
        case CANCEL_WATCH -> { }
        case LEASE_GRANT -> leaseGrant(r.getLeaseGrant());
        case LEASE_REVOKE -> leaseId("lease revoke", r.getLeaseRevoke().getId());
        case LEASE_KEEP_ALIVE -> leaseId("lease keep-alive", r.getLeaseKeepAlive().getId());
        case LEASE_TIME_TO_LIVE -> leaseId("lease ttl", r.getLeaseTimeToLive().getId());
        case LEASE_LIST -> { }
        case STATUS, MEMBERS, READ_INDEX, SNAPSHOT, TRANSFER_LEADER, MEMBER_HELLO, BACKUP -> { }
        case COMMAND_NOT_SET -> throw new Invalid(Error.Code.INVALID_ARGUMENT,
            "request names no command (or one this server does not know; is the client newer than the server?)");
      }
      return Optional.empty();
    } catch (Invalid e) {
      return Optional.of(Error.newBuilder().setCode(e.code).setMessage(e.getMessage()).build());
    }
  }

  /** A lease lives at most this long without a keep-alive (about 30 years, etcd's limit is 9,000,000,000 s). */
  static final long MAX_LEASE_TTL_SECONDS = 1_000_000_000L;

  /**
   * A revision a client names: a uint64 on the wire, but revisions count writes and stay far below 2^63, where Java's
   * long would read it as negative (a watch would be answered COMPACTED, a compaction "already compacted").
   */
  private static void revision(String where, long revision) throws Invalid {
    belowTwoTo63(revision, value -> where + " " + value + " is beyond any revision a store can reach (at most "
        + Long.MAX_VALUE + ")");
  }

  private static void leaseGrant(dev.kvraft.proto.LeaseGrant grant) throws Invalid {
    long ttl = grant.getTtlSeconds();
    if (ttl < 1 || ttl > MAX_LEASE_TTL_SECONDS) {
      throw new Invalid(Error.Code.INVALID_ARGUMENT, "lease grant: the TTL must be 1 to " + MAX_LEASE_TTL_SECONDS
          + " seconds, got " + ttl);
    }
    belowTwoTo63(grant.getId(), value -> "lease grant: a lease id must be below 2^63, got " + value
        + "; leave it 0 to have one picked");
  }

  /**
   * A uint64 from the wire that the server keeps as a long: one of 2^63 or more reads as negative and is refused
   * INVALID_ARGUMENT, with the message {@code refusal} makes of its unsigned value (each field keeps its own advice).
   */
  private static void belowTwoTo63(long value, java.util.function.Function<String, String> refusal) throws Invalid {
    if (value < 0) {
      throw new Invalid(Error.Code.INVALID_ARGUMENT, refusal.apply(Long.toUnsignedString(value)));
    }
  }

  private static void leaseId(String where, long id) throws Invalid {
    if (id == 0) {
      throw new Invalid(Error.Code.INVALID_ARGUMENT, where + ": name the lease (id 0 is none)");
    }
  }

  /** A member id by the cluster setting's rule; for ADD, an address host:clientPort:peerPort. */
  private static void memberChange(dev.kvraft.proto.MemberChange m) throws Invalid {
    if (m.getActionValue() > dev.kvraft.proto.MemberChange.Action.PROMOTE_VALUE) {
      throw new Invalid(Error.Code.INVALID_ARGUMENT, "member change: unknown action " + m.getActionValue());
    }
    try {
      if (m.getAction() == dev.kvraft.proto.MemberChange.Action.ADD) {
        dev.kvraft.server.config.PeerSpec.parse(m.getId() + "=" + m.getAddress());
      } else {
        dev.kvraft.server.config.PeerSpec.of(m.getId(), "localhost", 1, 2); // the id rule only
      }
    } catch (IllegalArgumentException e) {
      throw new Invalid(Error.Code.INVALID_ARGUMENT, "member change: " + e.getMessage());
    }
  }

  private static void backupChunk(dev.kvraft.proto.BackupChunk b) throws Invalid {
    if (!b.getBackupId().matches("[0-9a-f]{32}")) {
      throw new Invalid(Error.Code.INVALID_ARGUMENT, "backup chunk: '" + abbreviate(b.getBackupId())
          + "' is not a backup id (32 hex digits, from a BackupResult)");
    }
  }

  /** A user or role name: 1 to 128 characters, no control characters or commas. */
  private static void name(String what, String name) throws Invalid {
    if (name.isEmpty() || name.length() > 128 || name.codePoints().anyMatch(c -> Character.isISOControl(c) || c == ','
        || Character.isWhitespace(c))) {
      throw new Invalid(Error.Code.INVALID_ARGUMENT, what + " '" + abbreviate(name) + "' is not a name: 1 to 128"
          + " characters, no spaces, commas or control characters");
    }
  }

  private void authChange(dev.kvraft.proto.AuthChange c) throws Invalid {
    var a = c.getAction();
    switch (a) {
      case USER_ADD, USER_DELETE, USER_PASSWORD -> name("auth change: user", c.getName());
      case USER_GRANT_ROLE, USER_REVOKE_ROLE -> {
        name("auth change: user", c.getName());
        name("auth change: role", c.getRole());
      }
      case ROLE_ADD, ROLE_DELETE -> name("auth change: role", c.getRole());
      case ROLE_GRANT, ROLE_REVOKE -> {
        name("auth change: role", c.getRole());
        var p = c.getPermission();
        if (p.getTypeValue() < 0 || p.getTypeValue() > dev.kvraft.proto.Permission.Type.READWRITE_VALUE) {
          throw new Invalid(Error.Code.INVALID_ARGUMENT, "auth change: unknown permission type " + p.getTypeValue());
        }
        key("auth change: permission", p.getKey());
        if (p.getRangeEnd().size() > limits.maxKeyBytes()) {
          throw new Invalid(Error.Code.TOO_LARGE, "auth change: the permission's range end is over "
              + limits.maxKeyBytes() + " bytes");
        }
      }
      case AUTH_ENABLE, AUTH_DISABLE -> { }
      case UNRECOGNIZED -> throw new Invalid(Error.Code.INVALID_ARGUMENT, "auth change: unknown action "
          + c.getActionValue());
    }
    if (c.getPassword().length() > 1024) {
      throw new Invalid(Error.Code.TOO_LARGE, "auth change: the password is over 1024 characters");
    }
  }

  private static String abbreviate(String s) {
    return s.length() <= 40 ? s : s.substring(0, 40) + "...";
  }

  private static final class Invalid extends Exception {
    final Error.Code code;

    Invalid(Error.Code code, String message) {
      super(message, null, false, false);
      this.code = code;
    }
  }

  private void key(String where, ByteString key) throws Invalid {
    if (key.isEmpty()) {
      throw new Invalid(Error.Code.INVALID_ARGUMENT, where + ": the key is empty; keys are 1 to "
          + limits.maxKeyBytes() + " bytes");
    }
    if (key.size() > limits.maxKeyBytes()) {
      throw new Invalid(Error.Code.TOO_LARGE, where + ": the key is " + key.size() + " bytes, over the limit of "
          + limits.maxKeyBytes() + " (limit.key.bytes)");
    }
  }

  private void put(String where, dev.kvraft.proto.Put put) throws Invalid {
    key(where, put.getKey());
    if (put.getValue().size() > limits.maxValueBytes()) {
      throw new Invalid(Error.Code.TOO_LARGE, where + ": the value of key " + shortKey(put.getKey()) + " is "
          + put.getValue().size() + " bytes, over the limit of " + limits.maxValueBytes() + " (limit.value.bytes)");
    }
  }

  private void delete(String where, dev.kvraft.proto.Delete del) throws Invalid {
    range(where, del.getKey(), del.getRangeEnd());
  }

  /** A key, or a range [key, end) that is not empty ({@code end} "\0": to the end of the key space). */
  private void range(String where, com.google.protobuf.ByteString key, com.google.protobuf.ByteString end)
      throws Invalid {
    key(where, key);
    if (!end.isEmpty() && !end.equals(KvState.TO_END)) {
      if (end.size() > limits.maxKeyBytes()) {
        throw new Invalid(Error.Code.TOO_LARGE, where + ": range_end is " + end.size() + " bytes, over the limit of "
            + limits.maxKeyBytes());
      }
      if (KvState.KEY_ORDER.compare(key, end) >= 0) {
        throw new Invalid(Error.Code.INVALID_ARGUMENT, where + ": range_end " + shortKey(end)
            + " is not after key " + shortKey(key) + "; the range [key, range_end) would be empty");
      }
    }
  }

  private void scan(dev.kvraft.proto.Scan scan) throws Invalid {
    if (scan.getStart().size() > limits.maxKeyBytes() || scan.getEnd().size() > limits.maxKeyBytes()) {
      throw new Invalid(Error.Code.TOO_LARGE, "scan: start or end is over the key limit of " + limits.maxKeyBytes()
          + " bytes");
    }
    if (Integer.toUnsignedLong(scan.getLimit()) > limits.maxScanLimit()) {
      throw new Invalid(Error.Code.TOO_LARGE, "scan: limit " + Integer.toUnsignedLong(scan.getLimit())
          + " is over the maximum of " + limits.maxScanLimit() + " (limit.scan); page with start = last key + \\0");
    }
  }

  private void txn(dev.kvraft.proto.Txn txn) throws Invalid {
    if (txn.getCompareCount() > limits.maxTxnOps() || txn.getSuccessCount() > limits.maxTxnOps()
        || txn.getFailureCount() > limits.maxTxnOps()) {
      throw new Invalid(Error.Code.TOO_LARGE, "txn: " + txn.getCompareCount() + " compares, "
          + txn.getSuccessCount() + " success and " + txn.getFailureCount() + " failure ops; at most "
          + limits.maxTxnOps() + " of each (limit.txn.ops)");
    }
    for (Compare c : txn.getCompareList()) {
      key("txn compare", c.getKey());
      if (c.getTarget() == Compare.Target.UNRECOGNIZED || c.getOperator() == Compare.Operator.UNRECOGNIZED) {
        throw new Invalid(Error.Code.INVALID_ARGUMENT, "txn compare on " + shortKey(c.getKey())
            + " has an unknown target or operator");
      }
      var expected = switch (c.getTarget()) {
        case VALUE -> Compare.OperandCase.VALUE;
        case VERSION -> Compare.OperandCase.VERSION;
        case CREATE_REVISION -> Compare.OperandCase.CREATE_REVISION;
        case MOD_REVISION -> Compare.OperandCase.MOD_REVISION;
        default -> Compare.OperandCase.OPERAND_NOT_SET;
      };
      if (c.getOperandCase() != expected && c.getOperandCase() != Compare.OperandCase.OPERAND_NOT_SET) {
        throw new Invalid(Error.Code.INVALID_ARGUMENT, "txn compare on " + shortKey(c.getKey()) + " targets "
            + c.getTarget() + " but gives a " + c.getOperandCase() + " operand");
      }
    }
    ops("txn success", txn.getSuccessList());
    ops("txn failure", txn.getFailureList());
  }

  private void ops(String where, List<Op> ops) throws Invalid {
    for (var op : ops) {
      switch (op.getOpCase()) {
        case PUT -> put(where + " put", op.getPut());
        case DELETE -> delete(where + " delete", op.getDelete());
        case GET -> key(where + " get", op.getGet().getKey());
        case OP_NOT_SET -> throw new Invalid(Error.Code.INVALID_ARGUMENT, where + ": an op names no operation");
      }
    }
  }

  private static String shortKey(ByteString key) {
    return "'" + dev.kvraft.server.db.Summaries.show(key) + "'";
  }
}
