package dev.kvraft.shell;

import java.util.List;

/** One kvsh command, in the style of etcdctl: a class each, grouped in help. */
public interface ShellCommand {

  /** Help groups, in the order help lists them. */
  enum Group {
    KEYS("Keys"), TRANSACTIONS("Transactions"), CLUSTER("Cluster"), SHELL("Shell");

    private final String title;

    Group(String title) {
      this.title = title;
    }

    public String title() {
      return title;
    }
  }

  String name();

  default List<String> aliases() {
    return List.of();
  }

  Group group();

  /** The options it takes, for completion: {@code --stale}, {@code --limit}, ... */
  default List<String> options() {
    return List.of();
  }

  /** Whether its first argument is a key, so Tab completes keys there. */
  default boolean takesKey() {
    return false;
  }

  /** Arguments, e.g. {@code KEY VALUE}. */
  String usage();

  /** One line: what it does. */
  String summary();

  /** One runnable example line. */
  String example();

  /**
   * Runs the command. Throws {@link UsageException} for wrong arguments and {@code KvException} for server errors;
   * either is printed by the shell, which goes on.
   */
  void run(List<String> args, ShellContext ctx);
}
