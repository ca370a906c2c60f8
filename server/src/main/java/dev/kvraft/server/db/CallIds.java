package dev.kvraft.server.db;

/** Ids for the loop's calls to Raft and to the leader: never reused within a boot. Loop thread only. */
final class CallIds {
  private long next = 1;

  long next() {
    return next++;
  }
}
