package dev.kvraft.shell;

import dev.kvraft.client.KvClient;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code kvsh}: the kvraft shell.
 *
 * <pre>
 *   kvsh [--address HOST:PORT[,HOST:PORT...]] [--format table|json|raw] [--timeout SECONDS]
 *        [--cacert FILE [--cert FILE --key FILE]] [-c 'COMMAND' ...]
 * </pre>
 *
 * With {@code -c} it runs those commands; when stdin is not a terminal it runs the lines it reads; otherwise it is
 * an interactive JLine prompt. The exit status is 0 only when every command succeeded.
 */
public final class Kvsh {
  static final String DEFAULT_ADDRESS = "127.0.0.1:7379";
  static final long MAX_TIMEOUT_SECONDS = 365L * 24 * 3600;

  private Kvsh() {}

  /** Parsed command line. */
  record Options(String address, Format format, Duration timeout, List<String> commands, boolean help,
      java.util.Optional<dev.kvraft.proto.PemTls> tls, java.util.Optional<String> user) {
    static Options parse(String... args) {
      return parse(System.getenv(), args);
    }

    static Options parse(java.util.Map<String, String> env, String... args) {
      String address = env.getOrDefault("KVSH_ADDRESS", DEFAULT_ADDRESS);
      String cacert = env.get("KVSH_CACERT");
      String cert = env.get("KVSH_CERT");
      String key = env.get("KVSH_KEY");
      String user = env.get("KVSH_USER");
      var format = Format.TABLE;
      var timeout = Duration.ofSeconds(10);
      var commands = new ArrayList<String>();
      boolean help = false;
      for (int i = 0; i < args.length; i++) {
        var a = args[i];
        String name = a;
        String value = null;
        if (a.startsWith("--") && a.contains("=")) {
          name = a.substring(0, a.indexOf('='));
          value = a.substring(a.indexOf('=') + 1);
        }
        switch (name) {
          case "-h", "--help" -> help = true;
          case "-a", "--address", "--addresses", "--endpoints" -> address = value != null ? value : next(args, ++i, name);
          case "-c", "--command" -> commands.add(value != null ? value : next(args, ++i, name));
          case "--format", "-o" -> format = Format.parse(value != null ? value : next(args, ++i, name));
          case "--cacert" -> cacert = value != null ? value : next(args, ++i, name);
          case "--cert" -> cert = value != null ? value : next(args, ++i, name);
          case "--key" -> key = value != null ? value : next(args, ++i, name);
          case "--user", "-u" -> user = value != null ? value : next(args, ++i, name);
          case "--timeout" -> {
            var v = value != null ? value : next(args, ++i, name);
            double seconds;
            try {
              seconds = Double.parseDouble(v);
            } catch (NumberFormatException e) {
              seconds = Double.NaN;
            }
            // At least a millisecond; at most a year (far more overflowed the client's deadlines on every command).
            if (!(seconds >= 0.001 && seconds <= MAX_TIMEOUT_SECONDS)) {
              throw new UsageException("--timeout takes seconds, from 0.001 to " + MAX_TIMEOUT_SECONDS
                  + " (a year), got '" + v + "'");
            }
            timeout = Duration.ofMillis((long) (seconds * 1000));
          }
          default -> throw new UsageException("unknown option '" + a + "' (see kvsh --help)");
        }
      }
      return new Options(address, format, timeout, commands, help, tls(blankToNull(cacert), blankToNull(cert),
          blankToNull(key)), java.util.Optional.ofNullable(blankToNull(user)));
    }

    private static String blankToNull(String s) {
      return s == null || s.isBlank() ? null : s;
    }

    /** --cacert turns TLS on (with --cert and --key for a server that requires a client certificate). */
    private static java.util.Optional<dev.kvraft.proto.PemTls> tls(String cacert, String cert, String key) {
      try {
        return dev.kvraft.proto.PemTls.fromFlags(cacert, cert, key);
      } catch (IllegalArgumentException e) {
        throw new UsageException(e.getMessage());
      }
    }

    private static String next(String[] args, int i, String name) {
      if (i >= args.length) {
        throw new UsageException(name + " needs a value");
      }
      return args[i];
    }
  }

  public static void main(String[] args) {
    System.exit(run(args, System.in, System.out, System.err, stdinIsTerminal()));
  }

  /** Runs kvsh on the given streams and returns its exit status. */
  public static int run(String[] args, InputStream stdin, OutputStream stdout, OutputStream stderr,
      boolean interactive) {
    return run(args, System.getenv(), stdin, stdout, stderr, interactive);
  }

  /** As {@link #run(String[], InputStream, OutputStream, OutputStream, boolean)}, with this environment. */
  public static int run(String[] args, java.util.Map<String, String> env, InputStream stdin, OutputStream stdout,
      OutputStream stderr, boolean interactive) {
    var out = new PrintWriter(new OutputStreamWriter(stdout, StandardCharsets.UTF_8), true);
    var err = new PrintWriter(new OutputStreamWriter(stderr, StandardCharsets.UTF_8), true);
    Options options;
    try {
      options = Options.parse(env, args);
    } catch (UsageException e) {
      err.println("kvsh: " + e.getMessage());
      return 2;
    }
    if (options.help()) {
      usage(out);
      return 0;
    }
    KvClient client;
    KvClient.Builder loginBuilder;
    try {
      var builder = KvClient.builder().addresses(options.address()).timeout(options.timeout());
      options.tls().ifPresent(builder::tls);
      if (options.user().isPresent()) {
        var user = options.user().get();
        var password = env.get("KVSH_PASSWORD");
        if (password == null) {
          var console = System.console();
          if (!interactive || console == null) {
            err.println("kvsh: --user " + user + " needs a password: set KVSH_PASSWORD, or run kvsh on a terminal to"
                + " be asked (never on the command line, where ps shows it)");
            return 2;
          }
          var typed = console.readPassword("Password for %s: ", user);
          password = typed == null ? "" : new String(typed);
        }
        builder.credentials(user, password);
      }
      client = builder.build();
      loginBuilder = options.user().isPresent() ? builder : null;
    } catch (IllegalArgumentException e) {
      err.println("kvsh: " + e.getMessage());
      return 2;
    }
    var ctx = new ShellContext(client, out, err, Commands.standard(), options.format());
    try {
      ctx.secrets(user -> newPassword(env, interactive, user));
      if (loginBuilder != null) {
        var user = options.user().get();
        ctx.loggedInAs(user, password -> loginBuilder.credentials(user, password).build());
      }
      var shell = new Shell(ctx);
      if (!options.commands().isEmpty()) {
        return runAll(shell, options.commands());
      }
      if (!interactive) {
        return runStdin(shell, stdin);
      }
      return new Interactive(shell, historyFile()).run();
    } finally {
      ctx.lastClient().close();
    }
  }

  /** A new password: $KVSH_NEW_PASSWORD, else asked twice on the terminal with echo off. */
  private static String newPassword(java.util.Map<String, String> env, boolean interactive, String user) {
    var fromEnv = env.get("KVSH_NEW_PASSWORD");
    if (fromEnv != null) {
      return fromEnv;
    }
    var console = System.console();
    if (!interactive || console == null) {
      throw new UsageException("no new password for " + user + ": set KVSH_NEW_PASSWORD, or run kvsh on a terminal"
          + " to be asked");
    }
    var first = console.readPassword("New password for %s: ", user);
    var second = console.readPassword("Again: ");
    if (first == null || second == null || !java.util.Arrays.equals(first, second)) {
      throw new UsageException("the two passwords differ; nothing changed");
    }
    return new String(first);
  }

  private static int runAll(Shell shell, List<String> commands) {
    // A multi-line command (txn) reads its following lines from the next -c arguments.
    var lines = LineSource.queue(commands);
    shell.context().lines(LineSource.of(lines));
    boolean ok = true;
    for (String line; (line = lines.poll()) != null; ) {
      var outcome = shell.run(line);
      if (outcome == Shell.Outcome.EXIT) {
        break;
      }
      ok &= outcome == Shell.Outcome.OK;
    }
    return ok ? 0 : Math.max(1, shell.context().exitStatus());
  }

  private static int runStdin(Shell shell, InputStream stdin) {
    try (var in = new BufferedReader(new InputStreamReader(stdin, StandardCharsets.UTF_8))) {
      shell.context().lines(LineSource.of(prompt -> {
        try {
          return in.readLine();
        } catch (IOException e) {
          return null;
        }
      }));
      boolean ok = true;
      for (String line; (line = in.readLine()) != null; ) {
        var outcome = shell.run(line);
        if (outcome == Shell.Outcome.EXIT) {
          break;
        }
        ok &= outcome == Shell.Outcome.OK;
      }
      return ok ? 0 : Math.max(1, shell.context().exitStatus());
    } catch (IOException e) {
      shell.context().err().println("kvsh: cannot read stdin: " + e.getMessage());
      return 1;
    }
  }

  /**
   * Whether stdin is a terminal. The launcher knows for sure ({@code [ -t 0 ]}) and says so in
   * {@code KVSH_STDIN_TTY}; without it, {@code Console.isTerminal()} (JDK 22+) or the console's presence decides.
   */
  static boolean stdinIsTerminal() {
    var told = System.getenv("KVSH_STDIN_TTY");
    if (told != null) {
      return told.equals("1");
    }
    var console = System.console();
    if (console == null) {
      return false;
    }
    try {
      return (Boolean) java.io.Console.class.getMethod("isTerminal").invoke(console);
    } catch (ReflectiveOperationException e) {
      return true;
    }
  }

  static Path historyFile() {
    return historyFile(System.getenv());
  }

  /**
   * The history file: {@code KVSH_HISTORY} when set and non-empty, else {@code $HOME/.kvsh_history}; Java's
   * {@code user.home} only when {@code HOME} is unset, since {@code user.home} comes from the password
   * database and ignores {@code HOME}.
   */
  static Path historyFile(java.util.Map<String, String> env) {
    var override = env.get("KVSH_HISTORY");
    if (override != null && !override.isEmpty()) {
      return Path.of(override);
    }
    var home = env.get("HOME");
    return Path.of(home != null && !home.isEmpty() ? home : System.getProperty("user.home"), ".kvsh_history");
  }

  private static void usage(PrintWriter out) {
    out.println("usage: kvsh [--address HOST:PORT[,HOST:PORT...]] [--format table|json|raw] [--timeout SECONDS]");
    out.println("            [--cacert FILE [--cert FILE --key FILE]] [--user NAME] [-c 'COMMAND' ...]");
    out.println();
    out.println("The kvraft shell. With -c it runs the given commands; with stdin not a terminal it runs the");
    out.println("lines it reads; otherwise it is interactive. Exit status 0 only if every command succeeded.");
    out.println("Default address: " + DEFAULT_ADDRESS + " (or $KVSH_ADDRESS). Type 'help' inside for the commands.");
    out.println("TLS: --cacert (or $KVSH_CACERT) is the CA the servers' certificates must chain to, and their host");
    out.println("name or IP is checked; --cert/--key ($KVSH_CERT/$KVSH_KEY) are this client's, for servers that");
    out.println("require one. bin/kvsh finds a 'kvraft-cluster start --tls' cluster's files in $KVRAFT_CLUSTER_DIR/tls.");
    out.println("Auth: --user NAME (or $KVSH_USER) authenticates as NAME; the password comes from $KVSH_PASSWORD,");
    out.println("else kvsh asks on the terminal. New passwords (user add, user passwd): $KVSH_NEW_PASSWORD, else asked.");
  }
}
