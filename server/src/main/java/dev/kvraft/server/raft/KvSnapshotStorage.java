package dev.kvraft.server.raft;

import java.io.IOException;
import org.apache.ratis.statemachine.SnapshotRetentionPolicy;
import org.apache.ratis.statemachine.impl.SimpleStateMachineStorage;

/**
 * Ratis's single-file snapshot storage with one lock around "move a snapshot in and add its .md5" and "delete old
 * snapshots", so Ratis's cleanup (on its apply thread) never sees a snapshot without its checksum and two cleanups
 * never race.
 */
final class KvSnapshotStorage extends SimpleStateMachineStorage {
  private final Object lock = new Object();

  Object lock() {
    return lock;
  }

  @Override
  public void cleanupOldSnapshots(SnapshotRetentionPolicy policy) throws IOException {
    synchronized (lock) {
      super.cleanupOldSnapshots(policy);
    }
  }
}
