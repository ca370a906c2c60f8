package dev.kvraft.storage;

import java.io.IOException;

/** A storage file cannot be opened, read, written or verified; the message says which file and what to do. */
public final class StorageException extends IOException {
  public StorageException(String message) {
    super(message);
  }

  public StorageException(String message, Throwable cause) {
    super(message, cause);
  }
}
