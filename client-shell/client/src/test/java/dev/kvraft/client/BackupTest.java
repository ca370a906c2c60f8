package dev.kvraft.client;

import static dev.kvraft.client.KvClient.utf8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.kvraft.proto.Backup;
import dev.kvraft.proto.BackupChunk;
import dev.kvraft.proto.BackupResult;
import dev.kvraft.proto.Consistency;
import dev.kvraft.proto.Request;
import dev.kvraft.server.KvraftServer;
import dev.kvraft.server.testing.TestNodes;
import dev.kvraft.storage.SnapshotFiles;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@code KvClient.backup}, the chunked Backup protocol behind {@code kvsh backup}, against a real node. */
@Timeout(120)
class BackupTest {
  @TempDir
  static Path dir;
  static KvraftServer server;
  static KvClient client;
  /** Enough data for several 1 MiB chunks. */
  static final int KEYS = 3000;

  @BeforeAll
  static void start() throws Exception {
    server = KvraftServer.start(TestNodes.single(dir.resolve("node")));
    client = KvClient.connect("127.0.0.1:" + server.clientPort());
    var value = "v".repeat(1000);
    for (int i = 0; i < KEYS; i++) {
      client.put("backup/" + i, value + i);
    }
  }

  @AfterAll
  static void stop() {
    client.close();
    server.close();
  }

  @Test
  void theFileIsTheWholeStoreAtTheBackupsRevisionAndItsChecksumMatches(@TempDir Path out) throws Exception {
    long before = client.put("backup/last", "written before the backup");
    var file = out.resolve("store.db");
    var b = client.backup(file);
    assertTrue(b.getRevision() >= before, "the backup holds every write acknowledged before it began: revision "
        + b.getRevision() + " < " + before);
    assertEquals(Files.size(file), b.getBytes());
    assertTrue(b.getBytes() > 2 * (1 << 20), "several chunks: " + b.getBytes());
    assertArrayEquals(b.getSha256().toByteArray(),
        java.security.MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file)));

    var inFile = new TreeMap<String, String>();
    var meta = SnapshotFiles.read(file, r -> inFile.put(new String(r.key()), new String(r.value())));
    assertEquals(b.getRevision(), meta.revision());
    assertFalse(meta.system().containsKey("member_token"), "a backup never carries the member token");
    var live = new TreeMap<String, String>();
    for (var kv : client.scanPrefix(utf8(""), 0, Consistency.LINEARIZABLE).getKvsList()) {
      live.put(kv.getKey().toStringUtf8(), kv.getValue().toStringUtf8());
    }
    assertEquals(live, inFile, "no write came after the backup, so the file equals the store");
    assertEquals(0, leftovers(out), "only the backup itself is in the directory");
    assertEquals(0, openBackups(), "the node deleted its copy once it was read");
  }

  @Test
  void theFileIsReadableByItsOwnerOnlyEvenWhereTheOldOneWasNot(@TempDir Path out) throws Exception {
    var file = out.resolve("store.db");
    Files.writeString(file, "the previous backup");
    Files.setPosixFilePermissions(file, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
    client.backup(file);
    // Every key and value and the users and roles: not for other local users to read.
    assertEquals("rw-------", java.nio.file.attribute.PosixFilePermissions.toString(
        Files.getPosixFilePermissions(file)));
    assertEquals(0, leftovers(out));
  }

  @Test
  void aBadChecksumOrAVanishedBackupLeavesTheOldFileAndNoPartialOne(@TempDir Path out) throws Exception {
    var file = out.resolve("store.db");
    Files.writeString(file, "the previous backup");
    var address = "127.0.0.1:" + server.clientPort();

    var made = begin();
    var corrupt = made.toBuilder().setSha256(ByteString.copyFrom(new byte[32])).build();
    var e = assertThrows(InternalException.class, () -> Backups.read(client, address, corrupt, file));
    assertTrue(e.getMessage().contains("SHA-256"), e.getMessage());

    var vanished = made.toBuilder().setBackupId("0".repeat(32)).build();
    var gone = assertThrows(InvalidArgumentException.class, () -> Backups.read(client, address, vanished, file));
    assertTrue(gone.getMessage().contains("holds no backup"), gone.getMessage());

    assertEquals("the previous backup", Files.readString(file));
    assertEquals(1, fileCount(out), "no partial file is left beside the target");
    assertEquals(0, openBackups(), "the first attempt read the copy to its end, which deleted it");
  }

  @Test
  void aNodeSendingMoreThanItAnnouncedIsStoppedAtOnce(@TempDir Path out) throws Exception {
    var file = out.resolve("store.db");
    var made = begin();
    var understated = made.toBuilder().setBytes(1).build();
    var e = assertThrows(InternalException.class, () -> Backups.read(client, "127.0.0.1:" + server.clientPort(),
        understated, file));
    assertTrue(e.getMessage().contains("said is 1 bytes"), e.getMessage());
    assertEquals(1, openBackups(), "the client stopped after the first chunk, not at the end of the node's copy");
    assertEquals(0, fileCount(out), "no target and no partial file");
    readToEnd(made);
  }

  @Test
  void aNodeHoldsAtMostTwoBackupsAndSaysSo() throws Exception {
    var first = begin();
    var second = begin();
    var e = assertThrows(OverloadedException.class,
        () -> client.call(Request.newBuilder().setBackup(Backup.getDefaultInstance())));
    assertTrue(e.getMessage().contains("already holds 2 backups"), e.getMessage());
    for (var b : java.util.List.of(first, second)) {
      readToEnd(b);
    }
    assertEquals(0, openBackups());
    readToEnd(begin());
  }

  @Test
  void aChunkOfNoBackupOrPastTheEndIsAClearErrorAndChangesNothing() throws Exception {
    var bad = assertThrows(InvalidArgumentException.class, () -> client.call(Request.newBuilder()
        .setBackupChunk(BackupChunk.newBuilder().setBackupId("../../etc/passwd"))));
    assertTrue(bad.getMessage().contains("is not a backup id"), bad.getMessage());
    var made = begin();
    var past = assertThrows(InvalidArgumentException.class, () -> client.call(Request.newBuilder()
        .setBackupChunk(BackupChunk.newBuilder().setBackupId(made.getBackupId()).setOffset(made.getBytes() + 1))));
    assertTrue(past.getMessage().contains("past its end"), past.getMessage());
    readToEnd(made);
  }

  private static BackupResult begin() {
    return client.call(Request.newBuilder().setBackup(Backup.getDefaultInstance())).getBackup();
  }

  private static void readToEnd(BackupResult b) {
    long offset = 0;
    var chunks = new ArrayList<ByteString>();
    while (true) {
      var c = client.call(Request.newBuilder().setBackupChunk(BackupChunk.newBuilder()
          .setBackupId(b.getBackupId()).setOffset(offset))).getBackupChunk();
      chunks.add(c.getData());
      offset += c.getData().size();
      if (c.getLast()) {
        break;
      }
    }
    assertEquals(b.getBytes(), offset);
    assertTrue(chunks.stream().allMatch(c -> c.size() <= 1 << 20), "chunks of at most 1 MiB");
  }

  private static int openBackups() throws Exception {
    try (var files = Files.list(server.config().dataDir().resolve("backup"))) {
      return (int) files.count();
    }
  }

  private static long fileCount(Path d) throws Exception {
    try (var files = Files.list(d)) {
      return files.count();
    }
  }

  private static long leftovers(Path d) throws Exception {
    try (var files = Files.list(d)) {
      return files.filter(f -> !f.getFileName().toString().equals("store.db")).count();
    }
  }
}
