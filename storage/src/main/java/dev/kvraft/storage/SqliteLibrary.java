package dev.kvraft.storage;

import java.io.IOException;
import java.io.InputStream;
import java.net.JarURLConnection;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.HexFormat;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * SQLite's native library, loaded from a copy kept in a directory of the node's own instead of a new copy in the
 * system's temporary directory at every start.
 *
 * <p>By itself sqlite-jdbc writes its library (about 1 MB) to {@code java.io.tmpdir} under a new random name each time
 * a process first opens a database, and deletes it when the process exits normally. A process that is killed
 * (SIGKILL, the OOM killer, a crash) leaves its copy there for good: sqlite-jdbc's own clean-up skips a copy whose lock
 * file is left too. A node restarted after every such stop, or a test suite that kills nodes, fills {@code /tmp} a
 * megabyte at a time (a development machine here had 2 GB of them). Writing and comparing the copy also costs about a
 * tenth of a second of each start.
 *
 * <p>{@link #useCopyIn} writes the library once into a directory (the node's {@code data.dir/native}), named by
 * sqlite-jdbc's version and the library's checksum, so an upgrade writes a new one and removes the old. It is written
 * under a temporary name and renamed, and one whose size or checksum is not the library's (damaged by a crash: it is
 * not fsynced, nothing depends on it), or that is a link, is written again. It is loaded there first to check it can
 * be (a data directory on a {@code noexec} mount cannot), and only then is sqlite-jdbc pointed at it, through its
 * {@code org.sqlite.lib.path} and {@code org.sqlite.lib.name} system properties. Any failure leaves sqlite-jdbc to do
 * as it always did.
 *
 * <p>Process-wide: system properties are the JVM's, and sqlite-jdbc reads them once, when it first loads. So only a
 * process's entry point calls this ({@code kvraft-server}'s {@code Main}), before anything opens a database; never a
 * library or a server that shares its JVM with others (tests).
 */
public final class SqliteLibrary {
  private static final Logger LOG = LoggerFactory.getLogger(SqliteLibrary.class);
  static final String PATH_PROPERTY = "org.sqlite.lib.path";
  static final String NAME_PROPERTY = "org.sqlite.lib.name";

  private SqliteLibrary() {}

  /**
   * Points sqlite-jdbc at a copy of its library in {@code dir} (made when missing); the copy, or empty when sqlite-jdbc
   * was left to its own way (already loaded or pointed elsewhere, no library for this platform in the jar, or the copy
   * could not be made or loaded: logged, and the node goes on).
   */
  public static Optional<Path> useCopyIn(Path dir) {
    if (System.getProperty(PATH_PROPERTY) != null || System.getProperty(NAME_PROPERTY) != null) {
      return Optional.empty(); // chosen by whoever started the JVM
    }
    var resource = org.sqlite.util.LibraryLoaderUtil.getNativeLibResourcePath() + "/"
        + org.sqlite.util.LibraryLoaderUtil.getNativeLibName();
    var url = org.sqlite.JDBC.class.getResource(resource);
    if (url == null) {
      return Optional.empty(); // not bundled for this platform: sqlite-jdbc looks on java.library.path itself
    }
    try {
      var entry = entry(url);
      var name = copyName(entry, org.sqlite.util.LibraryLoaderUtil.getNativeLibName());
      var copy = dir.resolve(name);
      if (!whole(copy, entry)) {
        write(url, dir, copy); // missing, or damaged by a crash (it is not fsynced: nothing depends on it)
      }
      System.load(copy.toAbsolutePath().toString());
      System.setProperty(PATH_PROPERTY, dir.toAbsolutePath().toString());
      System.setProperty(NAME_PROPERTY, name);
      removeOthers(dir, name);
      return Optional.of(copy);
    } catch (IOException | RuntimeException | UnsatisfiedLinkError e) {
      LOG.warn("SQLite's native library could not be kept in {} ({}); sqlite-jdbc writes a copy to {} instead, at"
          + " every start", dir, e.toString(), System.getProperty("java.io.tmpdir"));
      return Optional.empty();
    }
  }

  /** The library's size and checksum, from the jar's directory when it is in a jar (nothing is read then). */
  private record Entry(long size, long crc) {}

  private static Entry entry(java.net.URL url) throws IOException {
    var connection = url.openConnection();
    if (connection instanceof JarURLConnection jar) {
      jar.setUseCaches(false);
      var e = jar.getJarEntry();
      if (e.getSize() >= 0 && e.getCrc() >= 0) {
        return new Entry(e.getSize(), e.getCrc());
      }
    }
    try (InputStream in = url.openStream()) { // an unpacked class path: read it
      var bytes = in.readAllBytes();
      var checksum = new java.util.zip.CRC32();
      checksum.update(bytes);
      return new Entry(bytes.length, checksum.getValue());
    }
  }

  /**
   * Whether {@code copy} is a regular file (not a link) with the library's size and checksum: reading 1 MB costs about
   * a millisecond, and a copy a crash left damaged at its full size would otherwise be loaded (and could fail or worse).
   */
  private static boolean whole(Path copy, Entry entry) throws IOException {
    if (!Files.isRegularFile(copy, java.nio.file.LinkOption.NOFOLLOW_LINKS) || Files.size(copy) != entry.size()) {
      return false;
    }
    var checksum = new java.util.zip.CRC32();
    checksum.update(Files.readAllBytes(copy));
    return checksum.getValue() == entry.crc();
  }

  /** "libsqlitejdbc-VERSION-CRC.so": the version alone would not tell apart two builds of one version. */
  private static String copyName(Entry entry, String libName) {
    long crc = entry.crc();
    int dot = libName.lastIndexOf('.');
    var base = dot < 0 ? libName : libName.substring(0, dot);
    var extension = dot < 0 ? "" : libName.substring(dot);
    var version = org.sqlite.SQLiteJDBCLoader.getVersion().replaceAll("[^0-9A-Za-z.]", "_");
    return base + "-" + version + "-" + HexFormat.of().toHexDigits((int) crc) + extension;
  }

  private static void write(java.net.URL url, Path dir, Path copy) throws IOException {
    Files.createDirectories(dir);
    var temporary = Files.createTempFile(dir, copy.getFileName().toString(), ".tmp");
    try {
      try (InputStream in = url.openStream()) {
        Files.copy(in, temporary, StandardCopyOption.REPLACE_EXISTING);
      }
      Files.move(temporary, copy, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } finally {
      Files.deleteIfExists(temporary);
    }
  }

  /** Copies of other versions and temporary files of a write cut short: nothing loads them any more. */
  private static void removeOthers(Path dir, String kept) {
    var prefix = kept.substring(0, kept.indexOf('-') + 1); // "libsqlitejdbc-"
    try (var files = Files.list(dir)) {
      for (var f : (Iterable<Path>) files::iterator) {
        var n = f.getFileName().toString();
        if (!n.equals(kept) && n.startsWith(prefix)) {
          Files.deleteIfExists(f);
        }
      }
    } catch (IOException e) {
      LOG.debug("could not remove old copies of SQLite's library in {}: {}", dir, e.toString());
    }
  }
}
