package dev.kvraft.server.raft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class SnapshotManagerTest {

  private static SnapshotManager manager(long threshold, long phase) {
    return new SnapshotManager(new KvSnapshotStorage(), null, null, threshold, phase);
  }

  @ParameterizedTest(name = "node {0} of {1}, threshold {2}: phase {3}")
  @CsvSource({
      "0, 3, 10000, 0",
      "1, 3, 10000, 3333",
      "2, 3, 10000, 6666",
      "4, 5, 100, 80",
      "0, 1, 10000, 0",
      "1, 3, 1, 0",
  })
  void nodesSpreadTheirPhasesOverOneThreshold(int position, int nodes, long threshold, long phase) {
    assertEquals(phase, SnapshotManager.phase(threshold, position, nodes));
  }

  @ParameterizedTest(name = "phase {0}, latest {1}: due at {2}")
  @CsvSource({
      // threshold 10000; the first snapshot of each of three nodes: its phase after the threshold
      "0,    -1,    9999",
      "3333, -1,    13332",
      "6666, -1,    16665",
      // a seed at index 0 (a new cluster's empty snapshot, or a restored backup) counts as none
      "3333, 0,     13332",
      // then one threshold after the previous one, wherever it landed: the nodes stay apart
      "0,    10006, 20006",
      "3333, 13340, 23340",
      "6666, 16670, 26670",
  })
  void aSnapshotIsDueOneThresholdAfterThePreviousAndTheFirstOneAPhaseLater(long phase, long latest, long due) {
    assertEquals(due, manager(10_000, phase).dueAfter(latest));
  }

  @ParameterizedTest(name = "threshold 1, latest {0}: due at {1}")
  @CsvSource({"-1, 0", "0, 0", "41, 42"})
  void aThresholdOfOneSnapshotsEveryEntry(long latest, long due) {
    assertEquals(due, manager(1, 0).dueAfter(latest));
  }

  @ParameterizedTest(name = "threshold {0}, phase {1}")
  @CsvSource({"0, 0", "100, 100", "100, -1"})
  void aPhaseOutsideTheThresholdIsRefused(long threshold, long phase) {
    var e = assertThrows(IllegalArgumentException.class, () -> manager(threshold, phase));
    assertEquals("need threshold >= 1 and 0 <= phase < threshold, got threshold " + threshold + " and phase "
        + phase, e.getMessage());
  }

  /** A node killed while writing snapshots leaves their temporary files; each as large as the store. */
  @org.junit.jupiter.api.Test
  void snapshotsLeftUnfinishedByACrashAreDeletedAtStart(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
      throws Exception {
    var tmp = java.nio.file.Files.createDirectories(dir.resolve("tmp"));
    var leftover = java.nio.file.Files.write(tmp.resolve("snapshot.3_4000.8731645.tmp"), new byte[4096]);
    var other = java.nio.file.Files.writeString(tmp.resolve("notes.txt"), "not a snapshot");
    new SnapshotManager(new KvSnapshotStorage(), null, tmp, 10, 0).init(dir.resolve("sm"));
    assertFalse(java.nio.file.Files.exists(leftover), "the unfinished snapshot is gone");
    assertTrue(java.nio.file.Files.exists(other), "nothing else is touched");
  }

  private static dev.kvraft.server.db.Snapshotter.PointInTime state(long index) {
    var kvs = java.util.List.of(new dev.kvraft.server.db.KvState.Entry("k".getBytes(), "v".getBytes(), 1, 1, 1));
    return new dev.kvraft.server.db.Snapshotter.PointInTime(2, index, 1, "", kvs, 0, java.util.Map.of());
  }

  /** The loop's side of a snapshot: only told the index once it is registered. */
  private static dev.kvraft.server.db.StateMachineSink loopStub() {
    return (dev.kvraft.server.db.StateMachineSink) java.lang.reflect.Proxy.newProxyInstance(
        SnapshotManagerTest.class.getClassLoader(), new Class<?>[] {dev.kvraft.server.db.StateMachineSink.class},
        (proxy, method, args) -> null);
  }

  /**
   * A snapshot whose .md5 cannot be written (a full disk, simulated by a directory where the .md5's temporary file
   * goes) leaves no snapshot in sm/: Ratis would pass over one without its .md5 and never delete it, a copy of the
   * store stranded on a full disk.
   */
  @org.junit.jupiter.api.Test
  void aSnapshotWhoseChecksumCannotBeWrittenLeavesNothingBehind(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
      throws Exception {
    var sm = java.nio.file.Files.createDirectories(dir.resolve("sm"));
    var tmp = dir.resolve("tmp");
    java.nio.file.Files.createDirectories(sm.resolve("snapshot.2_50.md5.tmp"));
    var manager = new SnapshotManager(new KvSnapshotStorage(), loopStub(), tmp, 10, 0);
    manager.init(sm);
    assertThrows(java.util.concurrent.CompletionException.class, () -> manager.write(state(50)).join());
    assertFalse(java.nio.file.Files.exists(sm.resolve("snapshot.2_50")), "no snapshot without its .md5 in sm/");
    assertFalse(java.nio.file.Files.exists(sm.resolve("snapshot.2_50.md5")));
    try (var left = java.nio.file.Files.list(tmp)) {
      assertEquals(java.util.List.of(), left.toList(), "nothing left where it was built");
    }

    java.nio.file.Files.delete(sm.resolve("snapshot.2_50.md5.tmp"));
    var written = manager.write(state(50)).join();
    var file = java.nio.file.Path.of(written.file());
    assertEquals(sm.resolve("snapshot.2_50"), file);
    assertEquals(org.apache.ratis.util.MD5FileUtil.computeMd5ForFile(file.toFile()),
        org.apache.ratis.util.MD5FileUtil.readStoredMd5ForFile(file.toFile()), "the .md5 matches the snapshot");
    assertEquals(50, manager.latestIndex());
    manager.close();
  }

  /**
   * While Ratis installs the leader's snapshot it moves sm/ aside and renames its own directory in; a snapshot of
   * this node's placed in between would recreate sm/ and fail that rename. From pause to reinitialize none is placed.
   */
  @org.junit.jupiter.api.Test
  void noSnapshotEntersSmWhileOneFromTheLeaderIsInstalled(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
      throws Exception {
    var sm = dir.resolve("sm");
    var manager = new SnapshotManager(new KvSnapshotStorage(), loopStub(), dir.resolve("tmp"), 10, 0);
    manager.init(sm);
    manager.installing(40);
    var refused = assertThrows(java.util.concurrent.CompletionException.class, () -> manager.write(state(70)).join());
    assertTrue(refused.getCause().getMessage().contains("being installed"), refused.getCause().getMessage());
    assertFalse(java.nio.file.Files.exists(sm), "sm/ is Ratis's to rename meanwhile");
    try (var left = java.nio.file.Files.list(dir.resolve("tmp"))) {
      assertEquals(java.util.List.of(), left.toList());
    }
    manager.installed();
    assertEquals(sm.resolve("snapshot.2_70").toString(), manager.write(state(70)).join().file());
    manager.close();
  }
  /**
   * An install from the leader that fails after pause() (Ratis could not rename its directory into sm/) and is not
   * sent again (a new leader still had the entries and sent those): Ratis never calls reinitialize() nor says so. The
   * entries Ratis was applying when it paused keep the hold; the first entry committed after the pause ends it, and
   * this node snapshots again. Before, it took no snapshot of its own until it restarted, while its log grew.
   */
  @org.junit.jupiter.api.Test
  void anInstallGivenUpAfterPauseHoldsSnapshotsBackOnlyUntilAnEntryCommittedSinceIsApplied(
      @org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
    var sm = dir.resolve("sm");
    var manager = new SnapshotManager(new KvSnapshotStorage(), loopStub(), dir.resolve("tmp"), 10, 0);
    manager.init(sm);
    manager.installing(40); // Ratis had committed up to 40 when it paused
    manager.applied(39);
    manager.applied(40); // under way when Ratis paused: the rename may still be running
    var refused = assertThrows(java.util.concurrent.CompletionException.class, () -> manager.write(state(70)).join());
    assertTrue(refused.getCause().getMessage().contains("being installed"), refused.getCause().getMessage());
    assertFalse(java.nio.file.Files.exists(sm), "sm/ is Ratis's to rename meanwhile");

    manager.applied(41); // committed after the pause: the install is over, and reinitialize() never came
    assertEquals(sm.resolve("snapshot.2_70").toString(), manager.write(state(70)).join().file());
    assertEquals(70, manager.latestIndex());

    manager.installing(80); // the next install holds them back again
    assertThrows(java.util.concurrent.CompletionException.class, () -> manager.write(state(75)).join());
    manager.close();
  }

  /**
   * The snapshot's MD5 (a read of the whole file: seconds for a large store) is computed before the storage's lock is
   * taken: Ratis's cleanup on its apply thread and pause() on a snapshot install wait for that lock, and held only
   * for the renames they wait no longer than those.
   */
  @org.junit.jupiter.api.Test
  void theChecksumIsComputedOutsideTheStoragesLock(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
      throws Exception {
    var storage = new KvSnapshotStorage();
    var manager = new SnapshotManager(storage, loopStub(), dir.resolve("tmp"), 10, 0);
    manager.init(dir.resolve("sm"));
    var kvs = new java.util.ArrayList<dev.kvraft.server.db.KvState.Entry>();
    var value = new byte[2048];
    new java.util.Random(1).nextBytes(value);
    for (int i = 0; i < 30_000; i++) {
      kvs.add(new dev.kvraft.server.db.KvState.Entry(("k" + i).getBytes(), value, 1, 1, 1));
    }
    var big = new dev.kvraft.server.db.Snapshotter.PointInTime(2, 80, 1, "", kvs, 0, java.util.Map.of());
    var mx = java.lang.management.ManagementFactory.getThreadMXBean();
    int lockHash = System.identityHashCode(storage.lock());
    var write = manager.write(big);
    int seen = 0;
    int underLock = 0;
    while (!write.isDone()) {
      for (var t : mx.dumpAllThreads(true, false)) {
        if (!t.getThreadName().equals("kvraft-snapshot")) {
          continue;
        }
        boolean md5 = java.util.Arrays.stream(t.getStackTrace())
            .anyMatch(f -> f.getMethodName().equals("computeMd5ForFile"));
        if (md5) {
          seen++;
          if (java.util.Arrays.stream(t.getLockedMonitors()).anyMatch(m -> m.getIdentityHashCode() == lockHash)) {
            underLock++;
          }
        }
      }
    }
    write.join();
    org.junit.jupiter.api.Assumptions.assumeTrue(seen > 0, "the MD5 was too quick to be seen");
    assertEquals(0, underLock, "samples of the MD5 taken under the storage's lock, of " + seen);
    manager.close();
  }
}
