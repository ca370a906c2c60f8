package dev.kvraft.server.db;

import com.google.protobuf.ByteString;
import dev.kvraft.proto.CommandKind;
import dev.kvraft.proto.Error;
import dev.kvraft.proto.Op;
import dev.kvraft.proto.Permissions;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import dev.kvraft.proto.Txn;
import dev.kvraft.proto.WriteOp;
import dev.kvraft.server.auth.AuthState;
import java.util.Collection;
import java.util.Optional;
import java.util.function.LongFunction;

/**
 * Auth as a layer, like etcd's auth applier: {@link #around} wraps the apply step, applying user and role changes
 * and refusing, on every node alike, a write its user may not make; {@link #refusal} checks a request when it
 * reaches the database loop (reads are answered there; writes fail fast and are checked again when applied, against
 * the permissions in force then). A write needs read on every key it reads as well: a txn's compares and gets, and
 * with prev_kv what it replaces, whose values its answer carries. While auth is off both let everything through, at
 * the cost of one boolean.
 *
 * <p>Leases have no owner: any user may grant one, keep one alive or list them. A revoke deletes every key attached
 * to its lease, so it needs write on each of them; a TimeToLive with keys names them, so it needs read on each (as
 * etcd's auth checks both). The keys that count are the lease's when the check runs: at apply for a revoke, when it
 * is answered for a TimeToLive. A put attaching its key to a lease needs write on every key already attached to it
 * (as etcd's {@code checkLeasePuts}), also inside a txn: else any user could attach a key of theirs to another's
 * lease and so keep that user from revoking it. An expiry is the leader's own write (as {@link #SYSTEM}) and
 * deletes them all.
 *
 * <p>Loop thread only.
 */
final class AuthLayer {
  /**
   * The user of commands a node makes itself (raising its NOSPACE alarm): never a client's, since a connection
   * overwrites a client's user with its own, and names cannot hold control characters. Members may forward it.
   */
  public static final String SYSTEM = "\u0000node";

  private final AuthState state;
  /** The keys attached to a lease now; none when there is no such lease. */
  private final LongFunction<Collection<ByteString>> leaseKeys;

  AuthLayer(AuthState state, LongFunction<Collection<ByteString>> leaseKeys) {
    this.state = state;
    this.leaseKeys = leaseKeys;
  }

  /** The apply-step layer. */
  OpApplier around(OpApplier next) {
    return (op, listener) -> {
      if (op.hasAuth()) {
        return state.apply(op.getAuth(), op.getUser());
      }
      if (state.enabled() && !op.getUser().equals(SYSTEM)) {
        var refused = write(op.getUser(), op);
        if (refused.isPresent()) {
          return Response.newBuilder().setError(refused.get());
        }
      }
      return next.apply(op, listener);
    };
  }

  /** Why the loop must refuse {@code r} now, or empty. Forwarded requests carry their user in {@code r.user}. */
  Optional<Error> refusal(Request r) {
    if (!state.enabled() || r.getUser().equals(SYSTEM)) {
      return Optional.empty();
    }
    var user = r.getUser();
    return switch (CommandKind.of(r)) {
      case READ -> r.hasGet() ? state.check(user, false, r.getGet().getKey(), ByteString.EMPTY, false)
          : state.check(user, false, r.getScan().getStart(), r.getScan().getEnd(), true);
      case WRITE -> r.hasAuthChange() ? root(user, "change users and roles")
          : r.hasAlarm() || r.hasCompact() ? root(user, describe(r)) : write(user, WriteOpOf.of(r));
      case SNAPSHOT, TRANSFER_LEADER, MEMBER_CHANGE, BACKUP, AUTH_READ, ALARM_LIST -> root(user, describe(r));
      // A keep-alive and the list name no keys: any user (leases have no owner, as in etcd).
      case LEASE_KEEP_ALIVE -> authenticated(user);
      case LEASE_READ -> r.hasLeaseTimeToLive() && r.getLeaseTimeToLive().getKeys()
          ? leaseKeysReadable(user, r.getLeaseTimeToLive().getId()) : authenticated(user);
      // A watch reads its range, like a scan of it; the check is made once, when it opens (as etcd does).
      case WATCH -> state.check(user, false, r.getWatch().getKey(), r.getWatch().getRangeEnd(),
          !r.getWatch().getRangeEnd().isEmpty());
      case CANCEL_WATCH -> Optional.empty();
      // Status and Members name no keys; clients use them to find the leader before they authenticate.
      case INFO, READ_INDEX, MEMBER_HELLO, BACKUP_CHUNK, AUTHENTICATE, NONE -> Optional.empty();
    };
  }

  private Optional<Error> authenticated(String user) {
    return user.isEmpty() || !state.view().hasUser(user)
        ? state.check(user, false, ByteString.EMPTY, ByteString.EMPTY, false) : Optional.empty();
  }

  private Optional<Error> root(String user, String what) {
    if (user.isEmpty() || !state.view().hasUser(user)) {
      return state.check(user, false, ByteString.EMPTY, ByteString.EMPTY, false);
    }
    return state.isRoot(user) ? Optional.empty() : Optional.of(Error.newBuilder()
        .setCode(Error.Code.PERMISSION_DENIED)
        .setMessage("user '" + user + "' may not " + what + " (only the root role may)").build());
  }

  private static String describe(Request r) {
    return switch (r.getCommandCase()) {
      case SNAPSHOT -> "take snapshots";
      case TRANSFER_LEADER -> "transfer leadership";
      case MEMBER_CHANGE -> "change the membership";
      case BACKUP -> "take backups";
      case AUTH_READ -> "list users and roles";
      case ALARM -> "list, raise or disarm alarms";
      case COMPACT -> "compact history";
      default -> "send " + r.getCommandCase();
    };
  }

  /** Every key a write can touch must be writable, every key it reads (compares, gets, prev_kv) readable. */
  private Optional<Error> write(String user, WriteOp op) {
    return switch (op.getOpCase()) {
      case PUT -> put(user, op.getPut());
      case DELETE -> delete(user, op.getDelete());
      case TXN -> txn(user, op.getTxn());
      case AUTH -> root(user, "change users and roles");
      case ALARM -> root(user, "raise or disarm alarms");
      case COMPACT -> root(user, "compact history");
      case LEASE_GRANT -> authenticated(user);
      case LEASE_REVOKE -> leaseKeysWritable(user, op.getLeaseRevoke().getId());
      // Written by the leader alone (as SYSTEM, let through above); from anyone else, root's.
      case LEASE_CHECKPOINT -> root(user, "write lease checkpoints");
      case OP_NOT_SET -> Optional.empty();
    };
  }

  /** A revoke deletes every key attached to the lease: each must be writable (root's always are). */
  private Optional<Error> leaseKeysWritable(String user, long id) {
    return everyLeaseKey(user, id, true, key -> "user '" + user + "' may not revoke lease " + id + ": that would"
        + " delete key " + key + ", and no role of it grants write there (a revoke needs write on every key attached"
        + " to the lease: grant write on that key, or revoke as a user who may write them all)");
  }

  /** A TimeToLive with keys names every key attached to the lease: each must be readable (root's always are). */
  private Optional<Error> leaseKeysReadable(String user, long id) {
    return everyLeaseKey(user, id, false, key -> "user '" + user + "' may not list the keys of lease " + id
        + ": key " + key + " is one, and no role of it grants read there (listing them needs read on every one: ask"
        + " without keys, or grant read on that key)");
  }

  /** PERMISSION_DENIED, saying {@code why} of the first key of lease {@code id} the user may not read or write. */
  private Optional<Error> everyLeaseKey(String user, long id, boolean write,
      java.util.function.Function<String, String> why) {
    var refused = authenticated(user);
    if (refused.isPresent() || state.isRoot(user)) {
      return refused;
    }
    for (var key : leaseKeys.apply(id)) {
      if (state.check(user, write, key, ByteString.EMPTY, false).isPresent()) {
        return denied(why.apply(Permissions.show(key)));
      }
    }
    return Optional.empty();
  }

  private static Optional<Error> denied(String message) {
    return Optional.of(Error.newBuilder().setCode(Error.Code.PERMISSION_DENIED).setMessage(message).build());
  }

  /**
   * Write on the key, and read with prev_kv; with a lease, also write on every key already attached to that lease
   * (as etcd's {@code checkLeasePuts}): else a user could attach a key to a lease whose revoke then needs write on
   * it, and so keep the lease's other users from revoking it.
   */
  private Optional<Error> put(String user, dev.kvraft.proto.Put p) {
    var refused = state.check(user, true, p.getKey(), ByteString.EMPTY, false);
    if (refused.isEmpty() && p.getPrevKv()) {
      refused = prevReadable(user, p.getKey(), ByteString.EMPTY, false);
    }
    if (refused.isPresent() || p.getLease() == 0) {
      return refused;
    }
    var id = p.getLease();
    return everyLeaseKey(user, id, true, key -> "user '" + user + "' may not attach key "
        + Permissions.show(p.getKey()) + " to lease " + id + ": key " + key + " is attached to it, and no role of it"
        + " grants write there (a put with a lease needs write on every key already attached to the lease, as its"
        + " revoke does: use a lease of your own, or grant write on that key)");
  }

  /** One key, or every key of {@code [key, range_end)}; with prev_kv, read there too. */
  private Optional<Error> delete(String user, dev.kvraft.proto.Delete d) {
    boolean range = !d.getRangeEnd().isEmpty();
    var refused = state.check(user, true, d.getKey(), d.getRangeEnd(), range);
    return refused.isPresent() || !d.getPrevKv() ? refused : prevReadable(user, d.getKey(), d.getRangeEnd(), range);
  }

  /**
   * A write with prev_kv answers the key-values it replaces or deletes, so it needs read on them as well as write
   * (as etcd's auth applier checks): else a write-only user could read any value by overwriting it.
   */
  private Optional<Error> prevReadable(String user, ByteString key, ByteString end, boolean range) {
    return state.check(user, false, key, end, range).map(e -> e.toBuilder().setMessage(e.getMessage()
        + "; prev_kv answers the values a write replaces, so it needs read there too: send the write without"
        + " prev_kv, or grant read there").build());
  }

  private Optional<Error> txn(String user, Txn t) {
    for (var c : t.getCompareList()) {
      var e = state.check(user, false, c.getKey(), ByteString.EMPTY, false);
      if (e.isPresent()) {
        return e;
      }
    }
    for (var branch : java.util.List.of(t.getSuccessList(), t.getFailureList())) {
      for (Op o : branch) {
        var e = switch (o.getOpCase()) {
          case PUT -> put(user, o.getPut());
          case DELETE -> delete(user, o.getDelete());
          case GET -> state.check(user, false, o.getGet().getKey(), ByteString.EMPTY, false);
          case OP_NOT_SET -> Optional.<Error>empty();
        };
        if (e.isPresent()) {
          return e;
        }
      }
    }
    return Optional.empty();
  }

  /** The log operation a write request becomes. */
  static final class WriteOpOf {
    private WriteOpOf() {}

    static WriteOp of(Request r) {
      var op = WriteOp.newBuilder();
      switch (r.getCommandCase()) {
        case PUT -> op.setPut(r.getPut());
        case DELETE -> op.setDelete(r.getDelete());
        case TXN -> op.setTxn(r.getTxn());
        case AUTH_CHANGE -> op.setAuth(r.getAuthChange());
        case ALARM -> op.setAlarm(r.getAlarm());
        case COMPACT -> op.setCompact(r.getCompact());
        case LEASE_GRANT -> op.setLeaseGrant(r.getLeaseGrant());
        // A client's revoke is never an expiry.
        case LEASE_REVOKE -> op.setLeaseRevoke(r.getLeaseRevoke().toBuilder().setExpired(false));
        default -> throw new IllegalStateException("not a write: " + r.getCommandCase());
      }
      if (!r.getUser().isEmpty()) {
        op.setUser(r.getUser());
      }
      return op.build();
    }
  }
}
