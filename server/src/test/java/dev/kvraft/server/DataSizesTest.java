package dev.kvraft.server;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DataSizesTest {
  @Test
  void backupsWaitingForTheirClientDoNotCountTowardsTheQuota(@TempDir Path data) throws Exception {
    var current = Files.createDirectories(data.resolve("ratis/group/current"));
    Files.write(current.resolve("log_0-9"), new byte[100]);
    var sm = Files.createDirectories(data.resolve("ratis/group/sm"));
    Files.write(sm.resolve("snapshot.1_9"), new byte[200]);
    Files.write(data.resolve("kvraft.db"), new byte[30]);
    // Two backups of the store (BackupFiles.MAX_OPEN), as a daily kvraft-backup run makes them.
    var backup = Files.createDirectories(data.resolve("backup"));
    Files.write(backup.resolve("0123456789abcdef0123456789abcdef.backup"), new byte[5_000]);
    Files.write(backup.resolve("snapshot.1_9.123.tmp"), new byte[5_000]);

    var sizes = new DataSizes(data);
    sizes.refresh();

    var got = sizes.latest();
    assertEquals(100, got.getRaftLogBytes());
    assertEquals(30, got.getMirrorBytes());
    assertEquals(200, got.getSnapshotBytes());
    assertEquals(330, got.getTotalBytes(), "storage.quota.bytes is checked against this: backups are not data");
  }
}
