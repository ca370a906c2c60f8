package dev.kvraft.shell.commands;

import dev.kvraft.shell.Args;
import dev.kvraft.shell.Output;
import dev.kvraft.shell.ShellCommand;
import dev.kvraft.shell.ShellContext;
import dev.kvraft.shell.UsageException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Set;

/** {@code alarm list|disarm}: the cluster's NOSPACE alarms, like {@code etcdctl alarm}. */
public final class AlarmCommand implements ShellCommand {
  private static final Spec SPEC = new Spec("alarm", Group.CLUSTER,
      "list | disarm",
      "the raised alarms (NOSPACE: a node passed storage.quota.bytes or has less than storage.reserve.bytes free,"
          + " so writes that add data are refused), or clear them once there is room again",
      "alarm list")
      .withSubcommands(List.of("list", "disarm"));

  @Override
  public Spec spec() {
    return SPEC;
  }

  @Override
  public void run(List<String> words, ShellContext ctx) {
    var args = Args.parse(words, Set.of(), Set.of()).expect(1, 1);
    switch (args.word(0)) {
      case "list" -> {
        var alarms = ctx.client().alarms();
        if (ctx.format() == dev.kvraft.shell.Format.JSON) {
          var list = new ArrayList<Object>();
          for (var a : alarms) {
            var m = new LinkedHashMap<String, Object>();
            m.put("node_id", a.getNodeId());
            m.put("type", a.getType());
            m.put("reason", a.getReason());
            list.add(m);
          }
          ctx.out().println(Output.toJson(list));
        } else if (alarms.isEmpty()) {
          ctx.out().println("no alarms");
        } else {
          for (var a : alarms) {
            ctx.out().println(a.getType() + " on " + a.getNodeId() + ": " + a.getReason());
          }
        }
      }
      case "disarm" -> {
        ctx.client().disarmAlarms();
        ctx.out().println("alarms disarmed (a node still over its quota raises its alarm again within seconds)");
      }
      default -> throw new UsageException("unknown alarm subcommand '" + args.word(0) + "': use list or disarm");
    }
  }
}
