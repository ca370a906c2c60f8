package dev.kvraft.robust;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * Checks a history of {@link Operation}s for linearizability against a key-value store where each key is a register
 * with compare-and-set: the Wing–Gong search with Lowe's memoisation, as porcupine implements it. The history is
 * split by key first (operations on different keys commute, so the history is linearizable iff every key's is),
 * which keeps each search small.
 *
 * <p>An operation with an unknown outcome completes at "infinity": the search may place it anywhere after its
 * invocation, including after everything else, which is the same as it never having happened.
 *
 * <p>When a key's history is not linearizable, {@link #check} also shrinks it to a smallest failing sub-history
 * (removing operations one at a time while it still fails) for a readable report. Stateless and thread-safe.
 */
public final class Checker {

  /** The verdict; {@code counterexample} is empty when linearizable. */
  public record Result(boolean linearizable, String key, List<Operation> counterexample, int operations) {
    public String report() {
      if (linearizable) {
        return "linearizable: " + operations + " operations";
      }
      long t0 = counterexample.stream().mapToLong(Operation::invoke).min().orElse(0);
      var sb = new StringBuilder("NOT linearizable: key ").append(key).append(", smallest failing sub-history (")
          .append(counterexample.size()).append(" of ").append(operations).append(" operations; times in ms):\n");
      for (var op : counterexample) {
        sb.append(String.format("  [%9.3f, %9s]  %s%n", (op.invoke() - t0) / 1e6,
            op.unknown() ? "never" : String.format("%.3f", (op.complete() - t0) / 1e6), op.describe()));
      }
      return sb.toString();
    }
  }

  public Result check(List<Operation> history) {
    var byKey = new LinkedHashMap<String, List<Operation>>();
    for (var op : history) {
      byKey.computeIfAbsent(op.key(), k -> new ArrayList<>()).add(op);
    }
    for (var e : byKey.entrySet()) {
      if (!linearizable(e.getValue())) {
        return new Result(false, e.getKey(), shrink(e.getValue()), history.size());
      }
    }
    return new Result(true, null, List.of(), history.size());
  }

  /**
   * Greedily drops operations while the rest still fails: what remains is a smallest (1-minimal) counterexample. A
   * write whose value a remaining read saw is kept, so the report shows where every value came from instead of
   * degenerating into "a value nobody wrote".
   */
  static List<Operation> shrink(List<Operation> failing) {
    var ops = new ArrayList<>(failing);
    boolean removed = true;
    while (removed) {
      removed = false;
      for (int i = 0; i < ops.size(); i++) {
        if (isSourceOfARead(ops.get(i), ops)) {
          continue;
        }
        var without = new ArrayList<>(ops);
        without.remove(i);
        if (!linearizable(without)) {
          ops = without;
          removed = true;
          break;
        }
      }
    }
    ops.sort(Comparator.comparingLong(Operation::invoke));
    return ops;
  }

  private static boolean isSourceOfARead(Operation op, List<Operation> ops) {
    boolean writes = op.kind() == Operation.Kind.PUT
        || op.kind() == Operation.Kind.CAS && !"false".equals(op.output());
    return writes && ops.stream().anyMatch(o -> o.kind() == Operation.Kind.GET && !o.unknown()
        && Objects.equals(o.output(), op.value()));
  }

  // ---- the search, for one key ----------------------------------------------------------------

  /** A call or return event in a doubly linked list ordered by time. */
  private static final class Event {
    final int id;
    final boolean call;
    final Operation op;
    Event match;
    Event prev;
    Event next;

    Event(int id, boolean call, Operation op) {
      this.id = id;
      this.call = call;
      this.op = op;
    }
  }

  /** The register's state: its value, or null when the key is absent. */
  private record State(String value) {}

  /** Applies an operation to the state; empty when the operation's output cannot come from that state. */
  static Optional<State> step(State s, Operation op) {
    var unknown = op.unknown();
    return switch (op.kind()) {
      case PUT -> Optional.of(new State(op.value()));
      case GET -> unknown || Objects.equals(op.output(), s.value()) ? Optional.of(s) : Optional.empty();
      case DELETE -> {
        var deleted = s.value() != null;
        yield unknown || op.output().equals(deleted ? "1" : "0") ? Optional.of(new State(null)) : Optional.empty();
      }
      case CAS -> {
        boolean matches = Objects.equals(s.value(), op.expected());
        if (!unknown && !op.output().equals(Boolean.toString(matches))) {
          yield Optional.empty();
        }
        yield Optional.of(matches ? new State(op.value()) : s);
      }
    };
  }

  static boolean linearizable(List<Operation> ops) {
    if (ops.isEmpty()) {
      return true;
    }
    // Events sorted by time; at equal times calls come first (the operations overlap).
    var events = new ArrayList<Event>(ops.size() * 2);
    for (int i = 0; i < ops.size(); i++) {
      var call = new Event(i, true, ops.get(i));
      var ret = new Event(i, false, ops.get(i));
      call.match = ret;
      ret.match = call;
      events.add(call);
      events.add(ret);
    }
    events.sort(Comparator.<Event>comparingLong(e -> e.call ? e.op.invoke() : e.op.complete())
        .thenComparing(e -> !e.call));
    var head = new Event(-1, true, null);
    var last = head;
    for (var e : events) {
      last.next = e;
      e.prev = last;
      last = e;
    }

    var linearized = new BitSet(ops.size());
    var cache = new HashSet<Memo>();
    var stack = new ArrayDeque<Frame>();
    var state = new State(null);
    var cur = head.next;
    while (head.next != null) {
      if (cur == null) {
        return false;
      }
      if (cur.call) {
        var next = step(state, cur.op);
        if (next.isPresent()) {
          var nl = (BitSet) linearized.clone();
          nl.set(cur.id);
          if (cache.add(new Memo(nl, next.get()))) {
            stack.push(new Frame(cur, state));
            state = next.get();
            linearized = nl;
            lift(cur);
            cur = head.next;
            continue;
          }
        }
        cur = cur.next;
      } else {
        // A return whose call could not be linearized before it: undo the last choice.
        if (stack.isEmpty()) {
          return false;
        }
        var top = stack.pop();
        state = top.state();
        linearized.clear(top.call().id);
        unlift(top.call());
        cur = top.call().next;
      }
    }
    return true;
  }

  private record Frame(Event call, State state) {}

  private record Memo(BitSet linearized, State state) {}

  private static void lift(Event call) {
    call.prev.next = call.next;
    if (call.next != null) {
      call.next.prev = call.prev;
    }
    var ret = call.match;
    ret.prev.next = ret.next;
    if (ret.next != null) {
      ret.next.prev = ret.prev;
    }
  }

  private static void unlift(Event call) {
    var ret = call.match;
    ret.prev.next = ret;
    if (ret.next != null) {
      ret.next.prev = ret;
    }
    call.prev.next = call;
    if (call.next != null) {
      call.next.prev = call;
    }
  }
}
