package dev.kvraft.server;

import static dev.kvraft.server.testing.Requests.b;
import static dev.kvraft.server.testing.Requests.delete;
import static dev.kvraft.server.testing.Requests.put;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvraft.proto.Compare;
import dev.kvraft.proto.Error;
import dev.kvraft.proto.Op;
import dev.kvraft.proto.Put;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Snapshot;
import dev.kvraft.proto.Txn;
import dev.kvraft.server.testing.Await;
import dev.kvraft.server.testing.Nodes;
import dev.kvraft.server.testing.RawClient;
import dev.kvraft.server.testing.RunningServers;
import dev.kvraft.server.testing.Sqlite3;
import dev.kvraft.server.testing.TestNodes;
import dev.kvraft.storage.StorageException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** The Raft log and snapshots in SQLite, read back with the real sqlite3 tool. */
@Timeout(180)
@Tag("slow") // processes, clusters or external tools: not in bin/test --fast
class StorageIntegrationTest {
  private static final Duration WAIT = Duration.ofSeconds(30);

  @TempDir
  Path dir;
  @RegisterExtension
  final RunningServers servers = new RunningServers();

  private static void writeAll(KvraftServer s, List<Request> requests) throws Exception {
    for (var r : requests) {
      var resp = Nodes.call(s, r, WAIT);
      assertFalse(resp.hasError(), resp.toString());
    }
  }

  private static Path smDir(KvraftServer s) throws IOException {
    try (var dirs = Files.list(s.config().dataDir().resolve("ratis"))) {
      return dirs.filter(Files::isDirectory).findFirst().orElseThrow().resolve("sm");
    }
  }

  private static List<Path> snapshots(KvraftServer s) throws IOException {
    try (var files = Files.list(smDir(s))) {
      return files.filter(p -> p.getFileName().toString().matches("snapshot\\.\\d+_\\d+")).sorted().toList();
    }
  }

  @Test
  void sqlite3ShowsAKeysWholeHistoryWhileTheServerRuns() throws Exception {
    var s = servers.start(TestNodes.single(dir));
    var cas = Request.newBuilder().setId(9).setTxn(Txn.newBuilder()
        .addCompare(Compare.newBuilder().setKey(b("x")).setTarget(Compare.Target.VALUE).setValue(b("nope")))
        .addSuccess(Op.newBuilder().setPut(Put.newBuilder().setKey(b("x")).setValue(b("never"))))).build();
    writeAll(s, List.of(put(1, "x", "1"), put(2, "y", "other"), put(3, "x", "2"), cas, delete(4, "x", ""),
        put(5, "x", "3")));
    var db = s.config().dataDir().resolve("kvraft.db");
    var expected = List.of("put|1|1|created", "put|2|3|updated", "delete||4|deleted", "put|3|5|created");
    var history = Sqlite3.await(db,
        "SELECT op, value, revision, result FROM key_history WHERE key = 'x' ORDER BY idx, seq", expected, WAIT);
    assertEquals(expected, history);
    var where = Sqlite3.query(db, "SELECT count(DISTINCT term), min(idx) > 0 FROM key_history WHERE key = 'x'");
    assertEquals(List.of("1|1"), where, "term and index come with every row");
    var failed = Sqlite3.query(db, "SELECT op, result FROM raft_log_ops WHERE op = 'txn'");
    assertEquals(List.of("txn|compare failed"), failed);
    var kinds = Sqlite3.query(db, "SELECT DISTINCT kind FROM raft_log ORDER BY kind");
    assertTrue(kinds.containsAll(List.of("configuration", "normal")), kinds.toString());
    assertFalse(kinds.contains("metadata"), "Ratis's METADATA entries are turned off: " + kinds);
    var summary = Sqlite3.query(db, "SELECT summary FROM raft_log WHERE kind = 'normal' AND op_count > 0"
        + " ORDER BY idx LIMIT 1");
    assertEquals(List.of("put x=1"), summary);
    // The leader's member token is an entry of its own, before or after the first write, shown without the token.
    assertEquals(List.of("1"), Sqlite3.query(db, "SELECT count(*) FROM raft_log WHERE summary = 'member token set'"
        + " AND op_count = 0"));
  }

  @Test
  void anOnDemandSnapshotIsASqliteFileWithMetaAndKvRows() throws Exception {
    var s = servers.start(TestNodes.single(dir));
    writeAll(s, List.of(put(1, "a", "1"), put(2, "b", "2"), put(3, "a", "3")));
    var resp = Nodes.call(s, Request.newBuilder().setId(4).setSnapshot(Snapshot.getDefaultInstance()).build(), WAIT);
    assertFalse(resp.hasError(), resp.toString());
    var snap = resp.getSnapshot();
    var file = Path.of(snap.getFile());
    assertTrue(Files.exists(file) && Files.exists(Path.of(snap.getFile() + ".md5")));
    assertEquals(List.of(snap.getTerm() + "|" + snap.getIndex() + "|3|2"),
        Sqlite3.query(file, "SELECT term, idx, revision, key_count FROM meta"));
    assertEquals(List.of("a|3|1|3|2", "b|2|2|2|1"),
        Sqlite3.query(file, "SELECT key, value, create_revision, mod_revision, version FROM kv ORDER BY key"));
  }

  @Test
  void automaticSnapshotsPurgeOldSegmentsAndKeepTwo() throws Exception {
    var s = servers.start(TestNodes.single(dir, Map.of("snapshot.threshold", "100", "raft.segment.bytes", "16384")));
    try (var c = new RawClient(s.clientPort())) {
      Nodes.call(s, put(0, "warm", "up"), WAIT);
      for (int i = 0; i < 1000; i++) {
        var r = c.call(put(i, "k" + (i % 97), "value-" + i));
        assertFalse(r.hasError(), r.toString());
      }
    }
    Path current = smDir(s).resolveSibling("current");
    Await.until("two snapshots at index 800 or later and the log purged below them", WAIT,
        () -> "snapshots " + snapshots(s) + ", first log index " + firstLogIndex(current),
        seen -> {
          try {
            var snaps = snapshots(s);
            return snaps.size() == 2 && firstLogIndex(current) > 0
                && snaps.stream().allMatch(p -> SnapshotIndex.of(p) >= 800);
          } catch (java.io.IOException e) {
            return false;
          }
        });
    for (var snap : snapshots(s)) {
      assertEquals(List.of("ok"), Sqlite3.query(snap, "PRAGMA integrity_check"));
    }
  }

  /** The index in a snapshot file's name. */
  static final class SnapshotIndex {
    static long of(Path p) {
      return Long.parseLong(p.getFileName().toString().replaceAll("snapshot\\.\\d+_(\\d+)", "$1"));
    }
  }

  @Test
  void restartReplaysOnlyAfterTheSnapshotAndKeepsTheTablesIdentical() throws Exception {
    var config = TestNodes.single(dir, Map.of("snapshot.threshold", "100"));
    var s = servers.start(config);
    try (var c = new RawClient(s.clientPort())) {
      Nodes.call(s, put(0, "warm", "up"), WAIT);
      for (int i = 0; i < 250; i++) {
        assertFalse(c.call(put(i, "k" + (i % 20), "v" + i)).hasError());
      }
    }
    Nodes.awaitApplied(s, 200, WAIT);
    Await.until("a snapshot", WAIT, () -> !snapshots(s).isEmpty());
    var db = config.dataDir().resolve("kvraft.db");
    s.close();
    servers.remove(s);
    var columns = "idx, term, kind, proposer, op_count, summary, applied_at, hex(payload)";
    long maxIdx = Long.parseLong(Sqlite3.query(db, "SELECT max(idx) FROM raft_log").get(0));
    var logBefore = Sqlite3.query(db, "SELECT " + columns + " FROM raft_log ORDER BY idx");
    var opsBefore = Sqlite3.query(db, "SELECT idx, seq, op, hex(key), hex(value), revision, result"
        + " FROM raft_log_ops ORDER BY idx, seq");
    var restarted = servers.start(config);
    Nodes.awaitApplied(restarted, maxIdx, WAIT);
    var logAfter = Sqlite3.query(db, "SELECT " + columns + " FROM raft_log WHERE idx <= " + maxIdx
        + " ORDER BY idx");
    assertEquals(logBefore, logAfter, "re-applied entries leave their rows exactly as they were");
    assertEquals(opsBefore, Sqlite3.query(db, "SELECT idx, seq, op, hex(key), hex(value), revision, result"
        + " FROM raft_log_ops WHERE idx <= " + maxIdx + " ORDER BY idx, seq"));
    assertEquals(List.of("0|1"), Sqlite3.query(db,
        "SELECT count(*) - count(DISTINCT idx), max(idx) - min(idx) + 1 = count(*) FROM raft_log"),
        "no duplicates, no gaps");
    var status = Nodes.status(restarted);
    assertEquals(250 + 1, status.getRevision(), "every write survived the restart");
  }

  @Test
  void theNodesTakeTheirSnapshotsOneAfterAnother() throws Exception {
    var configs = TestNodes.cluster(dir, 3, Map.of("snapshot.threshold", "90"));
    var nodes = new ArrayList<KvraftServer>();
    for (var c : configs) {
      nodes.add(servers.start(c));
    }
    writeAll(nodes.get(0), List.of(put(1, "first", "write")));
    var leader = Nodes.awaitLeader(WAIT, nodes);
    try (var c = new RawClient(leader.clientPort())) {
      for (int i = 0; i < 400; i++) {
        assertFalse(c.call(put(i, "k" + (i % 30), "v" + i)).hasError());
      }
    }
    // n1, n2, n3 (in id order) take their first snapshot 0, 30 and 60 entries after the threshold of 90, and each
    // later one 90 after its previous one: the nodes' snapshots stay about 30 entries apart.
    var indexes = new java.util.TreeMap<Long, String>();
    for (var n : nodes) {
      Await.until(n.config().nodeId() + " to hold two snapshots", WAIT, () -> snapshots(n), list -> list.size() >= 2);
      for (var p : snapshots(n)) {
        indexes.put(SnapshotIndex.of(p), n.config().nodeId());
      }
    }
    assertEquals(3 * 2, indexes.size(), "no two nodes snapshot at the same index: " + indexes);
    Map.Entry<Long, String> previous = null;
    for (var e : indexes.entrySet()) {
      if (previous != null && !previous.getValue().equals(e.getValue())) {
        assertTrue(e.getKey() - previous.getKey() >= 15, "snapshots of two nodes close together: " + indexes);
      }
      previous = e;
    }
  }

  @Test
  void aLaggingFollowerCatchesUpBySnapshotInstall() throws Exception {
    var configs = TestNodes.cluster(dir, 3, Map.of("snapshot.threshold", "100", "raft.segment.bytes", "16384"));
    var nodes = new ArrayList<KvraftServer>();
    for (var c : configs) {
      nodes.add(servers.start(c));
    }
    writeAll(nodes.get(0), List.of(put(1, "before", "stop")));
    var leader = Nodes.awaitLeader(WAIT, nodes);
    var follower = nodes.stream().filter(n -> n != leader).findFirst().orElseThrow();
    var followerConfig = follower.config();
    follower.close();
    servers.remove(follower);
    try (var c = new RawClient(leader.clientPort())) {
      for (int i = 0; i < 1000; i++) {
        var r = c.call(put(i, "f" + (i % 50), "v" + i));
        assertFalse(r.hasError(), r.toString());
      }
    }
    // The leader took several snapshots and purged the log the follower would need.
    Path current = smDir(leader).resolveSibling("current");
    Await.until("the leader to purge its log below index 300", WAIT, () -> firstLogIndex(current),
        first -> first > 300);
    var back = servers.start(followerConfig);
    long leaderApplied = Nodes.status(leader).getAppliedIndex();
    Nodes.awaitApplied(back, leaderApplied, WAIT);
    var installed = Sqlite3.await(back.config().dataDir().resolve("kvraft.db"),
        "SELECT count(*) FROM raft_log WHERE kind = 'snapshot-install' AND idx > 0", List.of("1"), WAIT);
    assertEquals(List.of("1"), installed, "the follower caught up by installing a snapshot");
    assertEquals(Digest.of(leader), Digest.of(back));
    // Both write a snapshot at the same applied index: their kv tables are the same rows.
    var a = Path.of(Nodes.call(leader, Request.newBuilder().setId(1).setSnapshot(Snapshot.getDefaultInstance())
        .build(), WAIT).getSnapshot().getFile());
    var bsnap = Path.of(Nodes.call(back, Request.newBuilder().setId(1).setSnapshot(Snapshot.getDefaultInstance())
        .build(), WAIT).getSnapshot().getFile());
    var sql = "SELECT key, value, create_revision, mod_revision, version FROM kv ORDER BY key";
    assertEquals(Sqlite3.query(a, sql), Sqlite3.query(bsnap, sql));
    assertEquals(51, Sqlite3.query(a, sql).size());
  }

  /** Every key-value of a node, read from its own copy. */
  static final class Digest {
    static List<String> of(KvraftServer s) throws IOException {
      try (var c = new RawClient(s.clientPort())) {
        var r = c.call(Request.newBuilder().setId(1).setScan(dev.kvraft.proto.Scan.newBuilder()
            .setConsistency(dev.kvraft.proto.Consistency.STALE)).build());
        return Stream.concat(Stream.of("revision " + r.getHeader().getRevision()),
            r.getScan().getKvsList().stream().map(kv -> kv.getKey().toStringUtf8() + "=" + kv.getValue()
                .toStringUtf8() + "@" + kv.getModRevision())).toList();
      }
    }
  }

  @Test
  void aCorruptKvraftDbStopsTheNodeWithWhatToDo() throws Exception {
    var config = TestNodes.single(dir);
    Files.createDirectories(config.dataDir());
    Files.writeString(config.dataDir().resolve("kvraft.db"), "garbage, not a database ".repeat(500));
    var e = assertThrows(StorageException.class, () -> servers.start(config));
    assertTrue(e.getMessage().contains("kvraft.db") && e.getMessage().contains("move the file aside"),
        e.getMessage());
  }

  /**
   * Issue #19: under sustained writes, kvraft.db keeps about log.retention.bytes of rows below the snapshot, however
   * few entries that is, and gives the freed pages back (read with sqlite3, WAL included).
   */
  @Test
  void theMirrorKeepsAboutLogRetentionBytesUnderSustainedWrites() throws Exception {
    var s = servers.start(TestNodes.single(dir, Map.of("log.retention.bytes", "300000", "snapshot.threshold", "40")));
    var value = "v".repeat(2000);
    try (var c = RawClient.to(s)) {
      // One at a time: one entry each, so snapshots (every 40 entries) come and pruning runs.
      for (int i = 0; i < 1500; i++) {
        var r = c.call(put(i, "retained/" + (i % 100), value + i));
        assertFalse(r.hasError(), r.toString());
      }
    }
    var db = s.config().dataDir().resolve("kvraft.db");
    long applied = Nodes.status(s).getAppliedIndex();
    // Written: 1,500 values of 2 KB in op rows (plain puts keep no payload), about 3 MB.
    Await.until("kvraft.db to hold the last entry and about log.retention.bytes of rows", WAIT, () -> {
      var rows = Sqlite3.query(db, "PRAGMA page_count; PRAGMA freelist_count; PRAGMA page_size;"
          + " SELECT max(idx) FROM raft_log");
      long live = (Long.parseLong(rows.get(0)) - Long.parseLong(rows.get(1))) * Long.parseLong(rows.get(2));
      return Long.parseLong(rows.get(3)) >= applied && live < 1_500_000;
    });
    var pages = Sqlite3.query(db, "PRAGMA auto_vacuum; SELECT min(idx) > 0 FROM raft_log");
    assertEquals(List.of("2", "1"), pages, "incremental auto_vacuum, and the oldest entries are gone");
  }

  /**
   * Issue #19: compaction drops a key's history before the compact revision from kvraft.db on every node, keeps the
   * current values, is recorded in meta and status, refuses going back (COMPACTED) and the future, and survives a
   * restart; compaction.retention makes the leader compact by itself.
   */
  @Test
  void compactionDropsOldHistoryEverywhereAndTheLeaderCompactsByItself(@TempDir Path other) throws Exception {
    var s = servers.start(TestNodes.single(dir));
    var puts = new ArrayList<Request>();
    for (int i = 1; i <= 6; i++) {
      puts.add(put(i, "compacted/k", "v" + i));
    }
    writeAll(s, puts);
    var compact = Request.newBuilder().setId(10).setCompact(dev.kvraft.proto.Compact.newBuilder().setRevision(4));
    var done = Nodes.call(s, compact.build(), WAIT);
    assertEquals(4, done.getCompact().getCompactRevision(), done.toString());
    var again = Nodes.call(s, compact.setId(11).build(), WAIT);
    assertEquals(Error.Code.COMPACTED, again.getError().getCode(), again.toString());
    assertTrue(again.getError().getMessage().contains("compact revision 4"), again.toString());
    var future = Nodes.call(s, compact.setId(12).setCompact(dev.kvraft.proto.Compact.newBuilder().setRevision(99))
        .build(), WAIT);
    assertEquals(Error.Code.INVALID_ARGUMENT, future.getError().getCode(), future.toString());
    assertEquals("v6", Nodes.call(s, dev.kvraft.server.testing.Requests.get(13, "compacted/k"), WAIT).getGet().getKv().getValue()
        .toStringUtf8(), "the current value stays");
    var db = s.config().dataDir().resolve("kvraft.db");
    Sqlite3.await(db, "SELECT revision FROM key_history WHERE key = 'compacted/k' ORDER BY revision;"
        + " SELECT value FROM meta WHERE key = 'compact_revision'", List.of("4", "5", "6", "4"), WAIT);
    assertEquals(4, Nodes.status(s).getCompactRevision());

    var config = s.config();
    s.close();
    servers.remove(s);
    var restarted = servers.start(config);
    Nodes.awaitLeader(WAIT, restarted);
    Await.until("the compact revision to survive a restart (replayed from the log)", WAIT,
        () -> Nodes.status(restarted).getCompactRevision() == 4);
    restarted.close();
    servers.remove(restarted);

    var auto = servers.start(TestNodes.single(other, Map.of("compaction.retention", "10")));
    var more = new ArrayList<Request>();
    for (int i = 1; i <= 40; i++) {
      more.add(put(i, "auto/k" + (i % 3), "v" + i));
    }
    writeAll(auto, more);
    Await.until("the leader to compact to about 10 revisions back", WAIT,
        () -> Nodes.status(auto).getCompactRevision() >= 25);
  }

  /** Issue #19: log.retention.age.ms prunes entries applied longer ago than that, below the snapshot. */
  @Test
  void entriesOlderThanTheRetentionAgeArePrunedBelowTheSnapshot() throws Exception {
    var s = servers.start(TestNodes.single(dir, Map.of("log.retention.age.ms", "1", "snapshot.threshold", "20")));
    var puts = new ArrayList<Request>();
    for (int i = 0; i < 60; i++) {
      puts.add(put(i, "aged/" + i, "v"));
    }
    writeAll(s, puts);
    var db = s.config().dataDir().resolve("kvraft.db");
    Sqlite3.await(db, "SELECT min(idx) > 10 FROM raft_log", List.of("1"), WAIT);
  }

  /** Issue #19: status says what the node keeps on disk, by kind, as the files are. */
  @Test
  void statusReportsTheDataOnDiskByKind() throws Exception {
    var s = servers.start(TestNodes.single(dir));
    writeAll(s, List.of(put(1, "size/a", "x".repeat(10_000)), put(2, "size/b", "y".repeat(10_000))));
    var snapshot = Nodes.call(s, Request.newBuilder().setId(3).setSnapshot(Snapshot.getDefaultInstance()).build(),
        WAIT);
    assertFalse(snapshot.hasError(), snapshot.toString());
    Await.until("status to report every kind of data", WAIT, () -> {
      var d = Nodes.status(s).getData();
      return d.getRaftLogBytes() > 0 && d.getMirrorBytes() > 0 && d.getSnapshotBytes() >= snapshot.getSnapshot()
          .getBytes() && d.getTotalBytes() >= d.getRaftLogBytes() + d.getMirrorBytes() + d.getSnapshotBytes();
    });
  }

  @Test
  void aSnapshotThatCannotBeWrittenFailsLoudlyAndKeepsThePreviousOne() throws Exception {
    var s = servers.start(TestNodes.single(dir));
    writeAll(s, List.of(put(1, "a", "1")));
    var snapshot = Request.newBuilder().setId(2).setSnapshot(Snapshot.getDefaultInstance()).build();
    var first = Nodes.call(s, snapshot, WAIT);
    assertFalse(first.hasError(), first.toString());
    var before = snapshots(s);
    assertTrue(before.contains(Path.of(first.getSnapshot().getFile())), before.toString());
    // Where snapshots are built becomes a file: the next one cannot be written.
    var tmp = s.config().dataDir().resolve("tmp");
    try (var files = Files.list(tmp)) {
      files.forEach(f -> f.toFile().delete());
    }
    Files.delete(tmp);
    Files.writeString(tmp, "in the way");
    writeAll(s, List.of(put(3, "a", "2")));
    var failed = Nodes.call(s, snapshot, WAIT);
    assertEquals(Error.Code.INTERNAL, failed.getError().getCode());
    assertTrue(failed.getError().getMessage().contains("snapshot failed"), failed.getError().getMessage());
    assertEquals(before, snapshots(s), "the previous snapshot stays, and no new one appeared");
    writeAll(s, List.of(put(4, "a", "3")));
  }

  /** The first index of the Raft log segments in a {@code current/} directory (0 when none is purged yet). */
  private static long firstLogIndex(Path current) throws java.io.IOException {
    try (var files = Files.list(current)) {
      return files.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("log_"))
          .mapToLong(n -> Long.parseLong(n.replaceAll("log_(inprogress_)?(\\d+).*", "$2"))).min().orElse(0);
    }
  }
}
