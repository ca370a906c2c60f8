package dev.kvraft.server.db;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Objects;

/**
 * Client commands waiting on one call to Raft or the leader, in order, with the earliest of their deadlines (when the
 * call's first command expires). For a proposal, slot i holds the command of operation i of the log entry. A command
 * whose own deadline passes is answered on its own ({@link #expire}); the others keep waiting for the call, so one
 * client's short deadline never cuts another's wait short. Its slot is then null, so operation i stays command i.
 * Immutable.
 */
record Pending(List<Event.Command> slots, long deadline) {
  static Pending of(List<Event.Command> commands) {
    return new Pending(List.copyOf(commands), earliest(commands));
  }

  private static long earliest(List<Event.Command> commands) {
    return commands.stream().filter(Objects::nonNull).mapToLong(Event.Command::deadline).min()
        .orElse(Long.MAX_VALUE);
  }

  /** The commands still waiting, in order. */
  List<Event.Command> commands() {
    for (var c : slots) {
      if (c == null) {
        return slots.stream().filter(Objects::nonNull).toList();
      }
    }
    return slots;
  }

  /** The command of operation {@code i} of a proposal; null when there is none or it was answered already. */
  Event.Command at(int i) {
    return i < slots.size() ? slots.get(i) : null;
  }

  /** What {@link #expire} split off: the commands whose deadline passed, and the rest (null when none is left). */
  record Expiry(Pending expired, Pending left) {}

  /** Splits off the commands whose own deadline passed at {@code now}; null when none did. */
  Expiry expire(long now) {
    if (deadline - now > 0) {
      return null;
    }
    var expired = new ArrayList<Event.Command>();
    var left = new Event.Command[slots.size()];
    boolean anyLeft = false;
    for (int i = 0; i < left.length; i++) {
      var c = slots.get(i);
      if (c == null) {
        continue;
      }
      if (c.deadline() - now <= 0) {
        expired.add(c);
      } else {
        left[i] = c;
        anyLeft = true;
      }
    }
    if (!anyLeft) {
      return new Expiry(Pending.of(expired), null);
    }
    var rest = Collections.unmodifiableList(Arrays.asList(left));
    return new Expiry(Pending.of(expired), new Pending(rest, earliest(rest)));
  }
}
