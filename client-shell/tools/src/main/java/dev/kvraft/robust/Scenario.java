package dev.kvraft.robust;

import java.util.Locale;

/** A fault injected while the workload runs. */
public enum Scenario {
  KILL_LEADER("SIGKILL the leader, restart it"),
  KILL_FOLLOWER("SIGKILL a follower, restart it"),
  PAUSE_LEADER("SIGSTOP the leader for longer than an election timeout, then SIGCONT"),
  RESTART_ALL("SIGKILL every node, restart them all"),
  PARTITION_LEADER("cut the leader off the network (namespaces), then heal"),
  PARTITION_FOLLOWER("cut one follower off from the other two and the clients (namespaces), then heal"),
  PARTIAL_PARTITION("cut only the link between the leader and one follower (namespaces): both still reach the third"
      + " node and the clients; then heal"),
  FLAPPING_PARTITION("cut a random node off and heal it again, over and over for a few seconds, each cut and each"
      + " heal 0.1 to 1.2 s: some shorter than an election timeout, some longer (namespaces)"),
  MEMBERSHIP("replace a follower (live, or SIGKILLed first: a dead host): member remove (a live one exits 0), wipe"
      + " its data, start it with --join, member add"),
  MEMBERSHIP_LEADER_KILL("replace a follower as MEMBERSHIP does, and SIGKILL the leader in the middle of the remove or"
      + " of the add (restarted after the fault's duration); each step is tried again until the membership shows it"
      + " took, as an operator would"),
  MEMBERSHIP_PARTITION("replace a follower as MEMBERSHIP_LEADER_KILL does, but cut the leader off the network (namespaces)"
      + " instead of killing it, then heal: it comes back with the change half done in its log");

  private final String description;

  Scenario(String description) {
    this.description = description;
  }

  public String description() {
    return description;
  }

  public boolean needsNamespaces() {
    return this == PARTITION_LEADER || this == PARTITION_FOLLOWER || this == PARTIAL_PARTITION
        || this == FLAPPING_PARTITION || this == MEMBERSHIP_PARTITION;
  }

  public static Scenario parse(String s) {
    try {
      return valueOf(s.toUpperCase(Locale.ROOT).replace('-', '_'));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("unknown scenario '" + s + "'; known: "
          + java.util.Arrays.toString(values()).toLowerCase(Locale.ROOT).replace('_', '-'));
    }
  }
}
