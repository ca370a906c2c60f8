package dev.kvraft.shell.commands;

import dev.kvraft.client.KvClient;
import dev.kvraft.proto.StatusResult;
import dev.kvraft.shell.Args;
import dev.kvraft.shell.Output;
import dev.kvraft.shell.ShellCommand;
import dev.kvraft.shell.ShellContext;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Set;

/** {@code status}: every node's Raft state, as a table. */
public final class StatusCommand implements ShellCommand {
  private static final Spec SPEC = new Spec("status", Group.CLUSTER,
      "[--local]",
      "role, term, leader, commit/applied index, follower lag, p99 latency, key count and data on disk of every node"
          + " (--local: this node only)",
      "status")
      .withOptions(List.of("--local"));

  @Override
  public Spec spec() {
    return SPEC;
  }

  @Override
  public void run(List<String> words, ShellContext ctx) {
    var args = Args.parse(words, Set.of("local"), Set.of()).expect(0, 0);
    var local = ctx.client().status();
    var rows = new ArrayList<Row>();
    rows.add(new Row(local.getNodeId(), ctx.client().currentAddress().orElse(""), local, null));
    if (!args.has("local")) {
      for (var m : local.getMembersList()) {
        if (m.getId().equals(local.getNodeId())) {
          continue;
        }
        try (var other = ctx.client().forNode(m.getClientAddress(), java.time.Duration.ofSeconds(2))) {
          rows.add(new Row(m.getId(), m.getClientAddress(), other.status(), null));
        } catch (RuntimeException e) {
          rows.add(new Row(m.getId(), m.getClientAddress(), null, e.getMessage()));
        }
      }
    }
    print(ctx, rows, lags(rows));
  }

  /** Each follower's lag as the leader reports it (only the leader knows), by node id. */
  private static java.util.Map<String, Long> lags(List<Row> rows) {
    var lags = new java.util.HashMap<String, Long>();
    for (var r : rows) {
      if (r.status() != null && r.status().getRole().equals("LEADER")) {
        r.status().getFollowersList().forEach(f -> lags.put(f.getId(), f.getLag()));
      }
    }
    return lags;
  }

  /** "put 1.2 get 0.4": the p99 in milliseconds of the busiest commands on that node since it started. */
  static String p99(StatusResult s) {
    var parts = new ArrayList<String>();
    s.getLatenciesList().stream()
        .filter(l -> l.getCommand().equals("put") || l.getCommand().equals("get") || l.getCommand().equals("txn")
            || l.getCommand().equals("delete") || l.getCommand().equals("scan"))
        .forEach(l -> parts.add(l.getCommand() + " " + String.format(java.util.Locale.ROOT, "%.1f", l.getP99Ms())));
    return parts.isEmpty() ? "-" : String.join(" ", parts);
  }

  /** "12M (1.0M/10M/1.3M)": everything under data.dir, then the Raft log, the mirror and the snapshots. */
  static String data(StatusResult s) {
    var d = s.getData();
    if (d.getTotalBytes() == 0) {
      return "-";
    }
    return bytes(d.getTotalBytes()) + " (" + bytes(d.getRaftLogBytes()) + "/" + bytes(d.getMirrorBytes()) + "/"
        + bytes(d.getSnapshotBytes()) + ")";
  }

  /** 999B, 12K, 3.4M, 1.2G: binary units, two or three digits. */
  static String bytes(long n) {
    if (n < 1024) {
      return n + "B";
    }
    var units = "KMGTP";
    double v = n;
    int u = -1;
    while (v >= 1024 && u < units.length() - 1) {
      v /= 1024;
      u++;
    }
    return (v < 10 ? String.format(java.util.Locale.ROOT, "%.1f", v) : String.valueOf(Math.round(v)))
        + units.charAt(u);
  }

  private record Row(String id, String address, StatusResult status, String error) {}

  private static void print(ShellContext ctx, List<Row> rows, java.util.Map<String, Long> lags) {
    switch (ctx.format()) {
      case JSON -> {
        var list = new ArrayList<Object>();
        for (var r : rows) {
          var m = new LinkedHashMap<String, Object>();
          m.put("node_id", r.id());
          m.put("address", r.address());
          if (r.status() != null) {
            var s = r.status();
            m.put("role", s.getRole());
            m.put("term", s.getTerm());
            m.put("leader_id", s.getLeaderId());
            m.put("commit_index", s.getCommitIndex());
            m.put("applied_index", s.getAppliedIndex());
            m.put("snapshot_index", s.getSnapshotIndex());
            m.put("revision", s.getRevision());
            m.put("key_count", s.getKeyCount());
            if (lags.containsKey(r.id())) {
              m.put("lag", lags.get(r.id()));
            }
            var p99 = new LinkedHashMap<String, Object>();
            s.getLatenciesList().forEach(l -> p99.put(l.getCommand(), l.getP99Ms()));
            m.put("p99_ms", p99);
            var d = s.getData();
            m.put("data", new LinkedHashMap<String, Object>(java.util.Map.of("raft_log_bytes", d.getRaftLogBytes(),
                "mirror_bytes", d.getMirrorBytes(), "snapshot_bytes", d.getSnapshotBytes(),
                "total_bytes", d.getTotalBytes())));
          } else {
            m.put("error", r.error());
          }
          list.add(m);
        }
        ctx.out().println(Output.toJson(list));
      }
      case RAW, TABLE -> {
        var table = new ArrayList<List<String>>();
        for (var r : rows) {
          var s = r.status();
          table.add(s == null
              ? List.of(r.id(), r.address(), "DOWN", "-", "-", "-", "-", "-", "-", "-", "-", "-",
                  r.error() == null ? "" : r.error())
              : List.of(r.id(), r.address(), s.getRole(), String.valueOf(s.getTerm()), s.getLeaderId(),
                  String.valueOf(s.getCommitIndex()), String.valueOf(s.getAppliedIndex()),
                  lags.containsKey(r.id()) ? String.valueOf(lags.get(r.id())) : "-",
                  String.valueOf(s.getRevision()), String.valueOf(s.getKeyCount()), p99(s), data(s), ""));
        }
        Output.table(ctx.out(), List.of("NODE", "ADDRESS", "ROLE", "TERM", "LEADER", "COMMIT", "APPLIED", "LAG",
            "REVISION", "KEYS", "P99 MS", "DATA (LOG/MIRROR/SNAP)", "ERROR"), table);
        rows.stream().filter(r -> r.status() != null).flatMap(r -> r.status().getAlarmsList().stream()).distinct()
            .forEach(a -> ctx.out().println("ALARM " + a + " (writes that add data are refused; see 'alarm')"));
      }
    }
  }
}
