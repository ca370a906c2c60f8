package dev.kvraft.shell;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/** One run of kvsh in-process, in its scripted mode (no terminal): its exit status and what it printed. */
record KvshRun(int status, String out, String err) {
  /** Runs kvsh with these arguments, this environment, and {@code stdin} as its input. */
  static KvshRun of(Map<String, String> env, String stdin, String... args) {
    var out = new ByteArrayOutputStream();
    var err = new ByteArrayOutputStream();
    int status = Kvsh.run(args, env, new ByteArrayInputStream(stdin.getBytes(StandardCharsets.UTF_8)), out, err,
        false);
    return new KvshRun(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
  }

  /** The same against the node at {@code address} ({@code --address} first). */
  static KvshRun at(String address, Map<String, String> env, String stdin, String... args) {
    var all = new String[args.length + 2];
    all[0] = "--address";
    all[1] = address;
    System.arraycopy(args, 0, all, 2, args.length);
    return of(env, stdin, all);
  }
}
