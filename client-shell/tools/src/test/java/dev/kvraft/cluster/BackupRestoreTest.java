package dev.kvraft.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvraft.client.KvClient;
import dev.kvraft.proto.Consistency;
import dev.kvraft.proto.KeyValue;
import dev.kvraft.robust.Cluster;
import dev.kvraft.robust.Round;
import dev.kvraft.server.testing.Await;
import dev.kvraft.storage.SnapshotFiles;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue #18's disaster recovery on real processes: a backup taken from a follower under write load holds exactly
 * the writes up to its revision, and a brand-new cluster restored from it serves the same data and goes on from
 * there.
 */
@Timeout(240)
@Tag("slow") // processes: not in bin/test --fast
class BackupRestoreTest {
  private static final Duration WAIT = Duration.ofSeconds(60);
  private Cluster source;
  private Cluster restored;

  @AfterEach
  void stop() {
    if (source != null) {
      source.close();
    }
    if (restored != null) {
      restored.close();
    }
  }

  /** What a row says, compared between the backup file, the old cluster and the new one. */
  private record Row(String value, long create, long mod, long version) {
    static Row of(KeyValue kv) {
      return new Row(kv.getValue().toStringUtf8(), kv.getCreateRevision(), kv.getModRevision(), kv.getVersion());
    }
  }

  @Test
  void aBackupUnderLoadRestoresIntoANewClusterWithTheSameDataAtItsRevision(@TempDir Path dir) throws Exception {
    source = Cluster.onLoopback(dir.resolve("old"), 3).startAll();
    var leader = source.awaitLeader(WAIT);
    var follower = source.ids().stream().filter(id -> !id.equals(leader)).findFirst().orElseThrow();

    // Load: new keys and overwrites of a few hot ones, every acknowledged write remembered with its revision.
    var acked = new ConcurrentHashMap<Long, String[]>();
    var stop = new AtomicBoolean();
    var lastAcked = new AtomicLong();
    var failures = new AtomicLong();
    var writer = Thread.ofPlatform().name("load").start(() -> {
      try (var c = source.client(String.join(",", source.addresses())).timeout(Duration.ofSeconds(10)).build()) {
        for (int i = 0; !stop.get() && i < 1_000_000; i++) {
          var key = i % 3 == 0 ? "hot/" + (i % 7) : "load/" + i;
          var value = "v" + i;
          try {
            long rev = c.put(key, value);
            acked.put(rev, new String[] {key, value});
            lastAcked.accumulateAndGet(rev, Math::max);
          } catch (RuntimeException e) {
            failures.incrementAndGet();
          }
        }
      }
    });
    Await.until("some load", WAIT, () -> acked.size() > 300);
    long before = lastAcked.get();
    var file = dir.resolve("backup.db");
    dev.kvraft.proto.BackupResult b;
    try (var c = KvClient.builder().addresses(source.address(follower)).discoverMembers(false)
        .timeout(Duration.ofSeconds(30)).build()) {
      b = c.backup(file);
    }
    Await.until("more load after the backup", WAIT, () -> lastAcked.get() > b.getRevision() + 50);
    stop.set(true);
    writer.join();
    assertEquals(0, failures.get(), "no write failed without faults");
    assertTrue(b.getRevision() >= before, "the backup (revision " + b.getRevision() + ") holds every write"
        + " acknowledged before it began (up to " + before + ")");

    // The file is exactly the acknowledged writes up to its revision, and none after.
    var expected = new TreeMap<String, String>();
    acked.entrySet().stream().filter(e -> e.getKey() <= b.getRevision()).sorted(Map.Entry.comparingByKey())
        .forEach(e -> expected.put(e.getValue()[0], e.getValue()[1]));
    var inFile = new TreeMap<String, Row>();
    var meta = SnapshotFiles.read(file, r -> inFile.put(new String(r.key()),
        new Row(new String(r.value()), r.createRevision(), r.modRevision(), r.version())));
    inFile.remove("robust/ready");
    assertEquals(b.getRevision(), meta.revision());
    var values = new TreeMap<String, String>();
    inFile.forEach((k, r) -> values.put(k, r.value()));
    assertEquals(expected, values, "the backup holds the last acknowledged value of every key up to revision "
        + b.getRevision());

    // A brand-new cluster, every node restored from the file.
    restored = Cluster.onLoopback(dir.resolve("new"), 3);
    for (var id : restored.ids()) {
      restored.start(id, "--restore=" + file);
    }
    for (var id : restored.ids()) {
      restored.awaitServing(id, WAIT);
    }
    restored.awaitLeader(WAIT);
    try (var c = restored.client(String.join(",", restored.addresses())).timeout(Duration.ofSeconds(20)).build()) {
      var now = new TreeMap<String, Row>();
      for (var kv : scanAll(c)) {
        now.put(kv.getKey().toStringUtf8(), Row.of(kv));
      }
      now.remove("robust/ready");
      assertEquals(inFile, now, "the new cluster serves the backup's rows, revisions and versions included");
      long next = c.put("after/restore", "1");
      assertTrue(next > b.getRevision(), "revisions go on from the backup's " + b.getRevision() + ", got " + next);
    }
    Await.until("every restored node to hold the same data", WAIT,
        () -> restored.ids().stream().map(id -> Round.digest(restored.address(id))).distinct().count() == 1);

    // A restored node restarts from its own data; asked to restore again over it, it refuses.
    restored.restart("n1");
    restored.awaitServing("n1", WAIT);
    restored.kill("n2");
    restored.start("n2", "--restore=" + file);
    Await.until("n2 to refuse the restore and exit", WAIT, () -> !restored.isAlive("n2"));
    assertTrue(restored.log("n2").contains("refusing to restore"), restored.log("n2"));
  }

  private static List<KeyValue> scanAll(KvClient c) {
    var all = new java.util.ArrayList<KeyValue>();
    var start = com.google.protobuf.ByteString.EMPTY;
    while (true) {
      var page = c.scan(dev.kvraft.proto.Scan.newBuilder().setStart(start).setConsistency(Consistency.LINEARIZABLE)
          .build());
      all.addAll(page.getKvsList());
      if (!page.getMore()) {
        return all;
      }
      start = page.getKvs(page.getKvsCount() - 1).getKey().concat(com.google.protobuf.ByteString.copyFrom(
          new byte[] {0}));
    }
  }
}
