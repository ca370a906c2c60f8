package dev.kvraft.shell.commands;

import dev.kvraft.shell.Args;
import dev.kvraft.shell.Output;
import dev.kvraft.shell.ShellCommand;
import dev.kvraft.shell.ShellContext;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Set;

/** {@code snapshot}: the connected node writes a snapshot of its state now. */
public final class SnapshotCommand implements ShellCommand {
  private static final Spec SPEC = new Spec("snapshot", Group.CLUSTER,
      "",
      "make the connected node write a snapshot now (a SQLite file; see storage/README.md)",
      "snapshot");

  @Override
  public Spec spec() {
    return SPEC;
  }

  @Override
  public void run(List<String> words, ShellContext ctx) {
    Args.parse(words, Set.of(), Set.of()).expect(0, 0);
    // A large store takes a while to write: wait for it up to ten minutes, on the node the shell talks to.
    var address = ctx.client().currentAddress().orElse(ctx.client().addresses().get(0));
    dev.kvraft.proto.SnapshotResult s;
    try (var patient = ctx.client().forNode(address, java.time.Duration.ofMinutes(10))) {
      s = patient.snapshot();
    }
    if (ctx.format() == dev.kvraft.shell.Format.JSON) {
      var m = new LinkedHashMap<String, Object>();
      m.put("term", s.getTerm());
      m.put("index", s.getIndex());
      m.put("revision", s.getRevision());
      m.put("key_count", s.getKeyCount());
      m.put("file", s.getFile());
      m.put("bytes", s.getBytes());
      m.put("copy_micros", s.getCopyMicros());
      m.put("write_micros", s.getWriteMicros());
      ctx.out().println(Output.toJson(m));
      return;
    }
    ctx.out().printf("snapshot at index %d (term %d, revision %d): %d keys, %d bytes in %s%n", s.getIndex(),
        s.getTerm(), s.getRevision(), s.getKeyCount(), s.getBytes(), s.getFile());
  }
}
