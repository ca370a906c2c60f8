package dev.kvraft.server;

import static org.junit.jupiter.api.Assertions.*;

import dev.kvraft.proto.Consistency;
import dev.kvraft.proto.MemberChange;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Scan;
import dev.kvraft.server.config.ServerConfig;
import dev.kvraft.server.testing.Await;
import dev.kvraft.testkit.FreePorts;
import dev.kvraft.server.testing.Nodes;
import dev.kvraft.server.testing.RawClient;
import dev.kvraft.server.testing.Requests;
import dev.kvraft.server.testing.RunningServers;
import dev.kvraft.storage.SnapshotFiles;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --restore=FILE} (issue #18): the first node of a new cluster starts from a backup, the next one joins and
 * gets it by snapshot install; a wrong file or a data dir in use is refused before anything is written.
 */
@Tag("slow") // two real nodes
@Timeout(120)
class RestoreTest {
  private static final Duration WAIT = Duration.ofSeconds(30);
  private static final long REVISION = 4321;
  @RegisterExtension
  final RunningServers servers = new RunningServers();

  /** A backup as {@code kvsh backup} writes it: snapshot format, taken at some index and term of an old cluster. */
  private static Path backup(Path dir, Map<String, String> kvs) throws Exception {
    var rows = new ArrayList<SnapshotFiles.Row>();
    long rev = 1;
    for (var e : new TreeMap<>(kvs).entrySet()) {
      rows.add(new SnapshotFiles.Row(e.getKey().getBytes(), e.getValue().getBytes(), rev, rev + 1, 2));
      rev += 2;
    }
    var built = SnapshotFiles.build(dir, 7, 9876, REVISION, "n1,n2,n3", Map.of(), rows.size(), rows.iterator());
    var file = dir.resolve("backup.db");
    Files.move(built, file);
    return file;
  }

  private static ServerConfig config(Path dir, List<String> members, int i, Map<String, String> extra) {
    var settings = new java.util.HashMap<String, String>(Map.of(
        "node.id", "n" + i,
        "cluster", String.join(",", members.subList(0, i)),
        "data.dir", dir.resolve("n" + i).toString(),
        "raft.election.timeout.min.ms", "300",
        "raft.election.timeout.max.ms", "600",
        "metrics.address", "127.0.0.1:0"));
    settings.putAll(extra);
    return ServerConfig.fromMap(settings);
  }

  private static Map<String, String> scan(KvraftServer s) throws Exception {
    try (var c = RawClient.to(s)) {
      var r = c.call(Request.newBuilder().setId(1).setScan(Scan.newBuilder().setStart(Requests.b("k/"))
          .setEnd(Requests.b("k0")).setLimit(10_000).setConsistency(Consistency.STALE)).build());
      var m = new TreeMap<String, String>();
      r.getScan().getKvsList().forEach(kv -> m.put(kv.getKey().toStringUtf8(), kv.getValue().toStringUtf8()));
      return m;
    }
  }

  @Test
  void theFirstNodeStartsFromTheBackupAndAJoiningNodeGetsItBySnapshot(@TempDir Path dir) throws Exception {
    var kvs = new TreeMap<String, String>();
    for (int i = 0; i < 500; i++) {
      kvs.put("k/" + i, "value " + i);
    }
    var file = backup(dir, kvs);
    var ports = FreePorts.take(4);
    var members = List.of("n1=127.0.0.1:" + ports.get(0) + ":" + ports.get(1),
        "n2=127.0.0.1:" + ports.get(2) + ":" + ports.get(3));

    var first = servers.start(config(dir, members, 1, Map.of("restore", file.toString())));
    Nodes.awaitLeader(WAIT, first);
    assertEquals(kvs, scan(first));
    var written = Nodes.call(first, Requests.put(2, "k/new", "after the restore"), WAIT);
    assertFalse(written.hasError(), written.toString());
    assertEquals(REVISION + 1, written.getHeader().getRevision(), "revisions go on from the backup's");

    var second = servers.start(config(dir, members, 2, Map.of("join", "true")));
    var added = Nodes.call(first, Request.newBuilder().setId(3).setMemberChange(MemberChange.newBuilder()
        .setAction(MemberChange.Action.ADD).setId("n2").setAddress("127.0.0.1:" + ports.get(2) + ":" + ports.get(3)))
        .build(), WAIT);
    assertFalse(added.hasError(), added.toString());
    kvs.put("k/new", "after the restore");
    Await.until("n2 to hold the restored data", WAIT, () -> scan(second).equals(kvs));
    assertEquals(REVISION + 1, Nodes.status(second).getRevision());
  }

  @Test
  void aWrongFileOrADataDirInUseIsRefusedBeforeAnythingIsWritten(@TempDir Path dir) throws Exception {
    var ports = FreePorts.take(2);
    var members = List.of("n1=127.0.0.1:" + ports.get(0) + ":" + ports.get(1));
    var notABackup = dir.resolve("notes.txt");
    Files.writeString(notABackup, "not a database");
    var e = assertThrows(java.io.IOException.class,
        () -> KvraftServer.start(config(dir, members, 1, Map.of("restore", notABackup.toString()))));
    assertTrue(e.getMessage().contains("cannot restore from " + notABackup), e.getMessage());
    assertFalse(Files.exists(dir.resolve("n1")), "nothing was created for the node");

    var good = backup(dir, Map.of("k/a", "1"));
    var node = KvraftServer.start(config(dir, members, 1, Map.of("restore", good.toString())));
    node.close();
    var again = assertThrows(java.io.IOException.class,
        () -> KvraftServer.start(config(dir, members, 1, Map.of("restore", good.toString()))));
    assertTrue(again.getMessage().contains("refusing to restore"), again.getMessage());
    var restarted = servers.start(config(dir, members, 1, Map.of()));
    Nodes.awaitLeader(WAIT, restarted);
    assertEquals(Map.of("k/a", "1"), scan(restarted), "without --restore the node starts from its own data");
  }

  /**
   * A restore whose first start fails after it set up the data dir (here: its client port is taken) is finished by
   * the next start with --restore, and a start without it is refused rather than making an empty node (which, in a
   * cluster restored on every node, would sit at the same Raft position as its restored peers without their data).
   */
  @Test
  void aRestoreThatFailedToStartIsFinishedByTheNextAndNeverBecomesAnEmptyNode(@TempDir Path dir) throws Exception {
    var ports = FreePorts.take(2);
    var members = List.of("n1=127.0.0.1:" + ports.get(0) + ":" + ports.get(1));
    var file = backup(dir, Map.of("k/a", "1", "k/b", "2"));
    try (var taken = new java.net.ServerSocket()) {
      taken.bind(new java.net.InetSocketAddress("127.0.0.1", ports.get(0)));
      assertThrows(java.io.IOException.class,
          () -> KvraftServer.start(config(dir, members, 1, Map.of("restore", file.toString()))));
    }
    var plain = assertThrows(java.io.IOException.class, () -> servers.start(
        config(dir, members, 1, Map.of())), "a start without --restore makes no empty node");
    assertTrue(plain.getMessage().contains("did not finish") && plain.getMessage().contains("--restore=" + file),
        plain.getMessage());
    var other = backup(Files.createDirectories(dir.resolve("other")), Map.of("k/z", "9"));
    var wrongFile = assertThrows(java.io.IOException.class,
        () -> servers.start(config(dir, members, 1, Map.of("restore", other.toString()))));
    assertTrue(wrongFile.getMessage().contains("--restore=" + file), wrongFile.getMessage());

    var node = servers.start(config(dir, members, 1, Map.of("restore", file.toString())));
    Nodes.awaitLeader(WAIT, node);
    assertEquals(Map.of("k/a", "1", "k/b", "2"), scan(node));
    node.close();
    servers.remove(node);
    var again = assertThrows(java.io.IOException.class,
        () -> servers.start(config(dir, members, 1, Map.of("restore", file.toString()))));
    assertTrue(again.getMessage().contains("refusing to restore"), "once finished, a restore is one: "
        + again.getMessage());
    var restarted = servers.start(config(dir, members, 1, Map.of()));
    Nodes.awaitLeader(WAIT, restarted);
    assertEquals(Map.of("k/a", "1", "k/b", "2"), scan(restarted));
  }
}
