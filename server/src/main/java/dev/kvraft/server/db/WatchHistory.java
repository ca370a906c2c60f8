package dev.kvraft.server.db;

import dev.kvraft.storage.HistoryReader;
import dev.kvraft.storage.StorageException;

/** Where a watch that starts in the past (or fell behind) reads the changes it missed: kvraft.db, or nothing. */
public interface WatchHistory {
  WatchHistory NONE = () -> null;

  /** A reader of kvraft.db's changes, or null when this node keeps none ({@code log.mirror=false}). */
  HistoryReader open() throws StorageException;

  /** False once writing kvraft.db failed: it will hold no newer change. */
  default boolean recording() {
    return true;
  }
}
