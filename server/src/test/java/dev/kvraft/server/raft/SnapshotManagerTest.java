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
}
