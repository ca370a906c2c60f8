package dev.kvraft.server.db;

import java.util.List;

/**
 * Client commands waiting on one call to Raft or the leader, in order, with the earliest of their deadlines. For a
 * proposal, command i is operation i of the log entry. Immutable.
 */
record Pending(List<Event.Command> commands, long deadline) {
  static Pending of(List<Event.Command> commands) {
    return new Pending(List.copyOf(commands),
        commands.stream().mapToLong(Event.Command::deadline).min().orElse(Long.MAX_VALUE));
  }
}
