package dev.kvraft.server.raft;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.kvraft.storage.SnapshotFiles;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What a restored node's first snapshot keeps of a backup, and what it leaves to the new cluster. */
class SeedSnapshotTest {
  @Test
  void aRestoreKeepsTheDataAndUsersButNotTheOldClustersAlarmsOrMemberToken(@TempDir Path dir) throws Exception {
    Files.createDirectories(dir.resolve("tmp"));
    Files.createDirectories(dir.resolve("sm"));
    var row = new SnapshotFiles.Row("k".getBytes(StandardCharsets.UTF_8), "v".getBytes(StandardCharsets.UTF_8),
        3, 5, 2);
    // A backup of a cluster that was out of space: n2's NOSPACE alarm is in its system rows.
    var backup = SnapshotFiles.build(dir.resolve("tmp"), 4, 900, 5, "old-configuration",
        Map.of("alarm.NOSPACE.n2", "data.dir holds 5 GB, over storage.quota.bytes", "member_token", "secret",
            "user.alice", "hash"), 1, List.of(row).iterator());

    var meta = SeedSnapshot.seed(backup, dir.resolve("sm"), dir.resolve("tmp"));
    assertEquals(5, meta.revision());

    var seeded = dir.resolve("sm").resolve(SnapshotFiles.fileName(SeedSnapshot.TERM, SeedSnapshot.INDEX));
    var rows = new ArrayList<SnapshotFiles.Row>();
    var restored = SnapshotFiles.read(seeded, rows::add);
    assertEquals(Map.of("user.alice", "hash"), restored.system(),
        "the new cluster measures its own disks and makes its own member token");
    assertEquals(1, rows.size());
    assertArrayEquals(row.value(), rows.get(0).value());
    assertEquals(5, rows.get(0).modRevision());
  }
}
