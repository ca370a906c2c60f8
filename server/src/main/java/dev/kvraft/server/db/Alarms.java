package dev.kvraft.server.db;

import dev.kvraft.proto.Alarm;
import dev.kvraft.proto.AlarmMember;
import dev.kvraft.proto.AlarmResult;
import dev.kvraft.proto.Error;
import dev.kvraft.proto.Op;
import dev.kvraft.proto.Response;
import dev.kvraft.proto.WriteOp;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * The cluster's alarms (replicated, like etcd's): a node whose data passes {@code storage.quota.bytes} raises
 * NOSPACE through the log; while any alarm is raised, {@link #around} refuses, on every node alike, the writes that
 * add data (puts, txns with a put, lease grants — etcd's quota applier refuses the same) with RESOURCE_EXHAUSTED, and
 * lets deletes, revokes, reads and admin commands through, so an operator can make room. A disarm clears them all; a node still over its quota raises its alarm again.
 * Snapshots carry them in the {@code system} table ({@code alarm.NOSPACE.<node>} = reason).
 *
 * <p>Owned by the database loop's thread; {@link #raisedFor()} is a volatile copy for the watchdog thread.
 */
public final class Alarms implements SystemState {
  /** The {@code system} rows alarms take in a snapshot: {@code alarm.NOSPACE.<node>}. */
  public static final String SNAPSHOT_PREFIX = "alarm.NOSPACE.";
  private static final String PREFIX = SNAPSHOT_PREFIX;
  private final TreeMap<String, String> nospace = new TreeMap<>();
  private volatile Set<String> raisedView = Set.of();

  /** The apply-step layer. */
  OpApplier around(OpApplier next) {
    return (op, listener) -> {
      if (op.hasAlarm()) {
        return apply(op.getAlarm());
      }
      if (!nospace.isEmpty() && addsData(op)) {
        var first = nospace.firstEntry();
        return Response.newBuilder().setError(Error.newBuilder().setCode(Error.Code.RESOURCE_EXHAUSTED)
            .setMessage("the cluster is out of space (NOSPACE alarm on " + first.getKey() + ": " + first.getValue()
                + "); writes that add data (puts, lease grants) are refused. Delete data, free disk space or raise storage.quota.bytes,"
                + " then 'kvsh alarm disarm'"));
      }
      return next.apply(op, listener);
    };
  }

  private Response.Builder apply(Alarm a) {
    switch (a.getAction()) {
      case RAISE -> nospace.put(a.getNodeId(), a.getReason());
      case DISARM -> nospace.clear();
      case LIST, UNRECOGNIZED -> {
        return Response.newBuilder().setError(Error.newBuilder().setCode(Error.Code.INVALID_ARGUMENT)
            .setMessage("alarm action " + a.getAction() + " is not a change"));
      }
    }
    publish();
    return Response.newBuilder().setAlarm(list());
  }

  private static boolean addsData(WriteOp op) {
    return switch (op.getOpCase()) {
      case PUT, LEASE_GRANT -> true;
      case TXN -> hasPut(op.getTxn().getSuccessList()) || hasPut(op.getTxn().getFailureList());
      default -> false;
    };
  }

  private static boolean hasPut(List<Op> ops) {
    return ops.stream().anyMatch(Op::hasPut);
  }

  AlarmResult list() {
    var r = AlarmResult.newBuilder();
    nospace.forEach((node, reason) -> r.addAlarms(AlarmMember.newBuilder().setNodeId(node).setType("NOSPACE")
        .setReason(reason)));
    return r.build();
  }

  /** "NOSPACE on n2: ..." for each alarm, for Status. */
  List<String> describe() {
    return nospace.entrySet().stream().map(e -> "NOSPACE on " + e.getKey() + ": " + e.getValue()).toList();
  }

  /** The nodes with a raised alarm; any thread. */
  Set<String> raisedFor() {
    return raisedView;
  }

  @Override
  public Map<String, String> forSnapshot() {
    var m = new HashMap<String, String>();
    nospace.forEach((node, reason) -> m.put(PREFIX + node, reason));
    return m;
  }

  @Override
  public void installed(Map<String, String> system) {
    nospace.clear();
    system.forEach((k, v) -> {
      if (k.startsWith(PREFIX)) {
        nospace.put(k.substring(PREFIX.length()), v);
      }
    });
    publish();
  }

  private void publish() {
    raisedView = Set.copyOf(nospace.keySet());
  }
}
