package dev.kvraft.shell;

import dev.kvraft.shell.commands.AlarmCommand;
import dev.kvraft.shell.commands.AuthCommand;
import dev.kvraft.shell.commands.BackupCommand;
import dev.kvraft.shell.commands.CasCommand;
import dev.kvraft.shell.commands.CompactCommand;
import dev.kvraft.shell.commands.CountCommand;
import dev.kvraft.shell.commands.DelCommand;
import dev.kvraft.shell.commands.FormatCommand;
import dev.kvraft.shell.commands.GetCommand;
import dev.kvraft.shell.commands.HelpCommand;
import dev.kvraft.shell.commands.LeaderCommand;
import dev.kvraft.shell.commands.MemberCommand;
import dev.kvraft.shell.commands.MembersCommand;
import dev.kvraft.shell.commands.PutCommand;
import dev.kvraft.shell.commands.RoleCommand;
import dev.kvraft.shell.commands.ScanCommand;
import dev.kvraft.shell.commands.SnapshotCommand;
import dev.kvraft.shell.commands.StatusCommand;
import dev.kvraft.shell.commands.TimingCommand;
import dev.kvraft.shell.commands.TxnCommand;
import dev.kvraft.shell.commands.UserCommand;
import dev.kvraft.shell.commands.WatchCommand;
import dev.kvraft.shell.commands.LeaseCommand;
import dev.kvraft.shell.commands.LockCommand;
import dev.kvraft.shell.commands.ElectCommand;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/** Every kvsh command by name and alias, and the closest name to a mistyped one. Immutable. */
public final class Commands {
  private final List<ShellCommand> all;
  private final Map<String, ShellCommand> byName = new LinkedHashMap<>();

  public Commands(List<ShellCommand> commands) {
    this.all = List.copyOf(commands);
    for (var c : all) {
      byName.put(c.spec().name(), c);
      c.spec().aliases().forEach(a -> byName.put(a, c));
    }
  }

  public static Commands standard() {
    return new Commands(List.of(
        new GetCommand(), new PutCommand(), new DelCommand(), new ScanCommand(), new CountCommand(),
        new WatchCommand(), new LeaseCommand(), new LockCommand(), new ElectCommand(),
        new CasCommand(), new TxnCommand(),
        new StatusCommand(), new MembersCommand(), new MemberCommand(), new LeaderCommand(), new SnapshotCommand(),
        new BackupCommand(), new AlarmCommand(), new CompactCommand(),
        new UserCommand(), new RoleCommand(), new AuthCommand(),
        new HelpCommand(), new FormatCommand(), new TimingCommand()));
  }

  public List<ShellCommand> all() {
    return all;
  }

  /** Every name and alias, for completion. */
  public List<String> names() {
    return new ArrayList<>(byName.keySet());
  }

  public Optional<ShellCommand> find(String name) {
    return Optional.ofNullable(byName.get(name.toLowerCase(Locale.ROOT)));
  }

  /** The known name closest to {@code typed}, if any is close enough to be a typo. */
  public Optional<String> closest(String typed) {
    String best = null;
    int bestDistance = Integer.MAX_VALUE;
    for (var name : byName.keySet()) {
      int d = distance(typed.toLowerCase(Locale.ROOT), name);
      if (d < bestDistance) {
        best = name;
        bestDistance = d;
      }
    }
    return bestDistance <= Math.max(2, typed.length() / 3) ? Optional.ofNullable(best) : Optional.empty();
  }

  /** Levenshtein distance. */
  static int distance(String a, String b) {
    var prev = new int[b.length() + 1];
    var cur = new int[b.length() + 1];
    for (int j = 0; j <= b.length(); j++) {
      prev[j] = j;
    }
    for (int i = 1; i <= a.length(); i++) {
      cur[0] = i;
      for (int j = 1; j <= b.length(); j++) {
        int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
        cur[j] = Math.min(Math.min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + cost);
      }
      var t = prev;
      prev = cur;
      cur = t;
    }
    return prev[b.length()];
  }
}
