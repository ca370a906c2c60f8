package dev.kvraft.robust;

import java.util.Objects;

/**
 * One client operation in a history: what was asked, what came back, and when. Immutable.
 *
 * <p>Times are {@link System#nanoTime()} values of the one JVM that ran every client, so they compare. An operation
 * whose outcome is unknown (timeout, connection lost) has {@link #UNKNOWN_END} as its completion: it may have taken
 * effect at any point after it was invoked — or never, which the checker models as taking effect after everything
 * else.
 *
 * @param client   which client ran it
 * @param kind     PUT, GET, DELETE or CAS
 * @param key      the key
 * @param value    PUT: the value written; CAS: the new value
 * @param expected CAS: the value compared against (null: the key must be absent)
 * @param output   GET: the value read (null: absent); CAS: "true" or "false"; DELETE: "1" or "0"; PUT: "ok";
 *                 null when the outcome is unknown
 * @param invoke   when it was sent
 * @param complete when its answer arrived, or {@link #UNKNOWN_END}
 */
public record Operation(int client, Kind kind, String key, String value, String expected, String output,
    long invoke, long complete) {

  public static final long UNKNOWN_END = Long.MAX_VALUE;

  public enum Kind { PUT, GET, DELETE, CAS }

  public Operation {
    Objects.requireNonNull(kind, "kind");
    Objects.requireNonNull(key, "key");
    if (complete < invoke) {
      throw new IllegalArgumentException("operation completes (" + complete + ") before it starts (" + invoke + ")");
    }
  }

  public boolean unknown() {
    return complete == UNKNOWN_END;
  }

  public static Operation put(int client, String key, String value, long invoke, long complete) {
    return new Operation(client, Kind.PUT, key, value, null, complete == UNKNOWN_END ? null : "ok", invoke, complete);
  }

  public static Operation get(int client, String key, String read, long invoke, long complete) {
    return new Operation(client, Kind.GET, key, null, null, read, invoke, complete);
  }

  public static Operation delete(int client, String key, Boolean deleted, long invoke, long complete) {
    return new Operation(client, Kind.DELETE, key, null, null, deleted == null ? null : deleted ? "1" : "0", invoke,
        complete);
  }

  public static Operation cas(int client, String key, String expected, String value, Boolean succeeded, long invoke,
      long complete) {
    return new Operation(client, Kind.CAS, key, value, expected, succeeded == null ? null : succeeded.toString(),
        invoke, complete);
  }

  /** E.g. {@code c3 cas(k2, 4 -> 7) = false}. */
  public String describe() {
    var what = switch (kind) {
      case PUT -> "put(" + key + ", " + value + ")";
      case GET -> "get(" + key + ")";
      case DELETE -> "delete(" + key + ")";
      case CAS -> "cas(" + key + ", " + (expected == null ? "absent" : expected) + " -> " + value + ")";
    };
    var result = unknown() ? "?" : kind == Kind.GET ? (output == null ? "absent" : output) : output;
    return "c" + client + " " + what + " = " + result;
  }
}
