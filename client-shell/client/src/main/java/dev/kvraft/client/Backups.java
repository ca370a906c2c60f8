package dev.kvraft.client;

import dev.kvraft.proto.Backup;
import dev.kvraft.proto.BackupChunk;
import dev.kvraft.proto.BackupResult;
import dev.kvraft.proto.Request;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Downloads a backup ({@link KvClient#backup}): asks one node for a copy at a linearizable point, reads it chunk by
 * chunk into a hidden temporary file beside the target (one chunk, 1 MiB, in memory at a time), checks its size and
 * SHA-256, fsyncs it and renames it over the target. The file is its owner's only (0600). Whatever goes wrong, the target is either the old file or the
 * whole new one: the temporary file is deleted on failure and, should the program be stopped meanwhile, at exit.
 * Stateless.
 */
final class Backups {
  /** How long a node may take to copy and write a large store before answering the Backup request. */
  static final Duration WRITE_TIMEOUT = Duration.ofMinutes(10);

  private Backups() {}

  static BackupResult download(KvClient client, Path target) {
    var parent = target.toAbsolutePath().getParent();
    if (parent == null || !Files.isDirectory(parent)) {
      throw new InvalidArgumentException("cannot write the backup to " + target + ": the directory " + parent
          + " does not exist");
    }
    if (Files.isDirectory(target)) {
      throw new InvalidArgumentException("cannot write the backup to " + target + ": it is a directory; name a file");
    }
    // Any node will do; the first that answers makes the copy and serves its chunks.
    var current = client.currentAddress();
    var order = new java.util.ArrayList<String>();
    current.ifPresent(order::add);
    client.addresses().stream().filter(a -> !order.contains(a)).forEach(order::add);
    UnavailableException last = null;
    for (var address : order) {
      try (var node = client.forNode(address, WRITE_TIMEOUT.compareTo(client.timeout()) > 0 ? WRITE_TIMEOUT
          : client.timeout())) {
        BackupResult made;
        try {
          made = node.call(Request.newBuilder().setBackup(Backup.getDefaultInstance())).getBackup();
        } catch (UnavailableException e) {
          last = e;
          continue;
        }
        read(node, address, made, target);
        return made;
      }
    }
    throw last != null ? last : new UnavailableException("no node to take a backup from", "");
  }

  /** Reads backup {@code made} from {@code node} into {@code target}; package-private for tests. */
  static void read(KvClient node, String address, BackupResult made, Path target) {
    var name = target.getFileName().toString();
    var tmp = target.toAbsolutePath().resolveSibling("." + name + ".partial-"
        + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt()));
    boolean done = false;
    try (var out = FileChannel.open(tmp, java.util.Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE),
        ownerOnly(tmp))) {
      tmp.toFile().deleteOnExit();
      var sha = MessageDigest.getInstance("SHA-256");
      long offset = 0;
      while (true) {
        var chunk = node.call(Request.newBuilder().setBackupChunk(BackupChunk.newBuilder()
            .setBackupId(made.getBackupId()).setOffset(offset))).getBackupChunk();
        var data = chunk.getData();
        if (data.isEmpty() && !chunk.getLast()) {
          throw new InternalException("node " + address + " sent an empty chunk of backup at offset " + offset);
        }
        for (var buf : data.asReadOnlyByteBufferList()) {
          sha.update(buf.duplicate());
          while (buf.hasRemaining()) {
            out.write(buf);
          }
        }
        offset += data.size();
        if (offset > made.getBytes()) {
          // Stop here: a node that sends more than it announced would otherwise fill this disk.
          throw new InternalException("node " + address + " sent " + offset + " bytes of a backup it said is "
              + made.getBytes() + " bytes; stopped reading, nothing was written to " + target);
        }
        if (chunk.getLast()) {
          break;
        }
      }
      if (offset != made.getBytes()) {
        throw new InternalException("backup from " + address + " is " + offset + " bytes, the node said "
            + made.getBytes() + "; nothing was written to " + target);
      }
      var got = sha.digest();
      if (!java.util.Arrays.equals(got, made.getSha256().toByteArray())) {
        throw new InternalException("backup from " + address + " has SHA-256 " + HexFormat.of().formatHex(got)
            + ", the node said " + HexFormat.of().formatHex(made.getSha256().toByteArray())
            + "; nothing was written to " + target);
      }
      out.force(true);
      out.close();
      Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      done = true;
      fsyncDirectory(target.toAbsolutePath().getParent());
    } catch (IOException e) {
      throw new UncheckedIOException("writing the backup to " + target + ": " + e.getMessage(), e);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("this JDK has no SHA-256", e);
    } finally {
      if (!done) {
        try {
          Files.deleteIfExists(tmp);
        } catch (IOException ignored) {
          // deleteOnExit will try again
        }
      }
    }
  }

  /**
   * Read and write for the owner only, where the file system has POSIX permissions: a backup holds every key and
   * value and the users and roles, and, renamed over the target, it replaces that file's permissions too (with the
   * usual umask 022 it was world-readable, like etcdctl's snapshots it is now 0600). An operator who wants a group
   * to read the backups grants it after the rename.
   */
  private static FileAttribute<?>[] ownerOnly(Path file) {
    return file.getFileSystem().supportedFileAttributeViews().contains("posix")
        ? new FileAttribute<?>[] {PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------"))}
        : new FileAttribute<?>[0];
  }

  private static void fsyncDirectory(Path dir) {
    try (var ch = FileChannel.open(dir, StandardOpenOption.READ)) {
      ch.force(true);
    } catch (IOException ignored) {
      // Some file systems cannot open a directory for reading; the rename itself is done.
    }
  }
}
