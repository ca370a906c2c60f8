package dev.kvraft.shell;

import java.util.List;

/** One kvsh command, in the style of etcdctl: a class each, grouped in help. */
public interface ShellCommand {

  /** Help groups, in the order help lists them. */
  enum Group {
    KEYS("Keys"), TRANSACTIONS("Transactions"), CLUSTER("Cluster"), AUTH("Users and roles"), SHELL("Shell");

    private final String title;

    Group(String title) {
      this.title = title;
    }

    public String title() {
      return title;
    }
  }

  /**
   * What a command is, for help, completion and hints: its name, group, arguments, one line of what it does, one
   * runnable example, and optionally aliases, options (for completion) and whether its first argument is a key.
   */
  record Spec(String name, Group group, String usage, String summary, String example, List<String> aliases,
      List<String> options, boolean takesKey, List<String> subcommands) {
    public Spec {
      if (name == null || name.isBlank() || summary == null || summary.isBlank() || example == null
          || !example.startsWith(name)) {
        throw new IllegalArgumentException("a command needs a name, a summary and an example that runs it, got "
            + name + " / " + summary + " / " + example);
      }
      aliases = List.copyOf(aliases);
      options = List.copyOf(options);
      subcommands = List.copyOf(subcommands);
    }

    public Spec(String name, Group group, String usage, String summary, String example) {
      this(name, group, usage, summary, example, List.of(), List.of(), false, List.of());
    }

    public Spec withAliases(List<String> aliases) {
      return new Spec(name, group, usage, summary, example, aliases, options, takesKey, subcommands);
    }

    /** The options it takes, for completion: {@code --stale}, {@code --limit}, ... */
    public Spec withOptions(List<String> options) {
      return new Spec(name, group, usage, summary, example, aliases, options, takesKey, subcommands);
    }

    /** Its first argument is a key, so Tab completes keys there. */
    public Spec takingKey() {
      return new Spec(name, group, usage, summary, example, aliases, options, true, subcommands);
    }

    /** Its first word is one of these (member list, user add, ...), so Tab completes them there. */
    public Spec withSubcommands(List<String> words) {
      return new Spec(name, group, usage, summary, example, aliases, options, takesKey, words);
    }
  }

  Spec spec();

  /**
   * Runs the command. Throws {@link UsageException} for wrong arguments and {@code KvException} for server errors;
   * either is printed by the shell, which goes on.
   */
  void run(List<String> args, ShellContext ctx);
}
