package dev.kvraft.shell;

import java.util.Locale;

/** How results are printed: aligned tables for people, JSON for scripts, raw values for pipes. */
public enum Format {
  TABLE, JSON, RAW;

  public static Format parse(String s) {
    try {
      return valueOf(s.toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new UsageException("unknown format '" + s + "': use table, json or raw");
    }
  }
}
