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
  @Override
  public String name() {
    return "status";
  }

  @Override
  public List<String> options() {
    return List.of("--local");
  }

  @Override
  public Group group() {
    return Group.CLUSTER;
  }

  @Override
  public String usage() {
    return "[--local]";
  }

  @Override
  public String summary() {
    return "role, term, leader, commit/applied index and key count of every node (--local: this node only)";
  }

  @Override
  public String example() {
    return "status";
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
        try (var other = KvClient.builder().addresses(m.getClientAddress())
            .timeout(java.time.Duration.ofSeconds(2)).build()) {
          rows.add(new Row(m.getId(), m.getClientAddress(), other.status(), null));
        } catch (RuntimeException e) {
          rows.add(new Row(m.getId(), m.getClientAddress(), null, e.getMessage()));
        }
      }
    }
    print(ctx, rows);
  }

  private record Row(String id, String address, StatusResult status, String error) {}

  private static void print(ShellContext ctx, List<Row> rows) {
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
              ? List.of(r.id(), r.address(), "DOWN", "-", "-", "-", "-", "-", "-", r.error() == null ? "" : r.error())
              : List.of(r.id(), r.address(), s.getRole(), String.valueOf(s.getTerm()), s.getLeaderId(),
                  String.valueOf(s.getCommitIndex()), String.valueOf(s.getAppliedIndex()),
                  String.valueOf(s.getRevision()), String.valueOf(s.getKeyCount()), ""));
        }
        Output.table(ctx.out(), List.of("NODE", "ADDRESS", "ROLE", "TERM", "LEADER", "COMMIT", "APPLIED",
            "REVISION", "KEYS", "ERROR"), table);
      }
    }
  }
}
