package dev.kvraft.shell.commands;

import dev.kvraft.shell.Args;
import dev.kvraft.shell.Output;
import dev.kvraft.shell.ShellCommand;
import dev.kvraft.shell.ShellContext;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Set;

/** {@code backup FILE}: a consistent copy of the whole store, written to a local SQLite file. */
public final class BackupCommand implements ShellCommand {
  private static final Spec SPEC = new Spec("backup", Group.CLUSTER,
      "FILE",
      "copy the whole store, at a linearizable point, into the local SQLite file FILE (snapshot format; restore it"
          + " with kvraft-server --restore=FILE)",
      "backup /var/backups/kvraft-$(date +%F).db");

  @Override
  public Spec spec() {
    return SPEC;
  }

  @Override
  public void run(List<String> words, ShellContext ctx) {
    var args = Args.parse(words, Set.of(), Set.of()).expect(1, 1);
    var file = Path.of(args.word(0));
    var b = ctx.client().backup(file);
    var sha = HexFormat.of().formatHex(b.getSha256().toByteArray());
    if (ctx.format() == dev.kvraft.shell.Format.JSON) {
      var m = new LinkedHashMap<String, Object>();
      m.put("file", file.toString());
      m.put("revision", b.getRevision());
      m.put("term", b.getTerm());
      m.put("index", b.getIndex());
      m.put("key_count", b.getKeyCount());
      m.put("bytes", b.getBytes());
      m.put("sha256", sha);
      ctx.out().println(Output.toJson(m));
      return;
    }
    ctx.out().printf("backup at revision %d (index %d): %d keys, %d bytes, sha256 %s, written to %s%n",
        b.getRevision(), b.getIndex(), b.getKeyCount(), b.getBytes(), sha, file);
  }
}
