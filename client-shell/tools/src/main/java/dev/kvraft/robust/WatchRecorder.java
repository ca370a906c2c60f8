package dev.kvraft.robust;

import dev.kvraft.client.KvClient;
import dev.kvraft.client.KvException;
import dev.kvraft.client.WatchListener;
import dev.kvraft.client.Watcher;
import dev.kvraft.proto.Event;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * Watchers beside a round's workload: one per node, each with its own {@link KvClient} starting on a different node,
 * all watching the round's keys from the same revision while the fault happens. After the round, {@link #check}
 * verifies what a watch promises: every watcher saw the same events, in strictly increasing revisions (the
 * workload writes one key per revision), none twice; replaying them up to a revision gives the state a scan at that
 * revision read (a write whose client gave up may still apply after the final reads, so those are not the end); every
 * acknowledged write is among them, and every put among them was written by some client.
 */
public final class WatchRecorder implements AutoCloseable {
  /** The key written last, so every watcher can tell it has seen the whole round. */
  private static final String END = "~end";

  private record Seen(List<Event> events, List<String> errors) implements WatchListener {
    @Override
    public void onEvents(List<Event> batch, long revision) {
      events.addAll(batch);
    }

    @Override
    public void onError(KvException e) {
      errors.add(e.toString());
    }
  }

  private final String prefix;
  private final List<KvClient> clients = new ArrayList<>();
  private final List<Watcher> watchers = new ArrayList<>();
  private final List<Seen> seen = new ArrayList<>();
  private final Cluster cluster;

  private WatchRecorder(Cluster cluster, String prefix) {
    this.cluster = cluster;
    this.prefix = prefix;
  }

  /** Starts one watcher per node on the keys under {@code prefix}, all from the cluster's next revision. */
  public static WatchRecorder start(Cluster cluster, String prefix) {
    var r = new WatchRecorder(cluster, prefix);
    var addresses = cluster.addresses();
    long from;
    try (var c = cluster.access().client(String.join(",", addresses)).build()) {
      from = c.status().getRevision() + 1;
    }
    for (int i = 0; i < addresses.size(); i++) {
      var rotated = new ArrayList<String>();
      for (int j = 0; j < addresses.size(); j++) {
        rotated.add(addresses.get((i + j) % addresses.size()));
      }
      var client = cluster.access().client(String.join(",", rotated)).discoverMembers(false)
          .timeout(Duration.ofSeconds(3)).connectTimeout(Duration.ofMillis(500)).build();
      r.clients.add(client);
      var s = new Seen(new CopyOnWriteArrayList<>(), new CopyOnWriteArrayList<>());
      r.seen.add(s);
      r.watchers.add(client.watch(KvClient.utf8(prefix), KvClient.prefixEnd(KvClient.utf8(prefix)), from, s));
    }
    return r;
  }

  /**
   * After the workload stopped and its final reads: writes the end marker, waits for every watcher to see it, and
   * returns what is wrong (empty: every promise held).
   */
  public List<String> check(List<Operation> history, Duration timeout) throws InterruptedException {
    var problems = new ArrayList<String>();
    var marker = prefix + END;
    var scanned = new HashMap<String, String>();
    long scanRevision;
    try (var c = cluster.access().client(String.join(",", cluster.addresses())).timeout(Duration.ofSeconds(5))
        .build()) {
      // The keys as they are at one revision; the marker, written after, is at a higher one.
      var r = c.call(dev.kvraft.proto.Request.newBuilder().setScan(dev.kvraft.proto.Scan.newBuilder()
          .setStart(KvClient.utf8(prefix)).setEnd(KvClient.prefixEnd(KvClient.utf8(prefix))).setLimit(0)));
      scanRevision = r.getHeader().getRevision();
      if (r.getScan().getMore()) {
        return List.of("the round's keys do not fit one scan answer (limit.scan, limit.answer.bytes): the check"
            + " needs them all at one revision");
      }
      for (var kv : r.getScan().getKvsList()) {
        scanned.put(kv.getKey().toStringUtf8(), kv.getValue().toStringUtf8());
      }
      c.put(marker, "x");
    } catch (KvException e) {
      return List.of("cannot scan the round's keys or write the watch end marker: " + e.getMessage());
    }
    long deadline = System.nanoTime() + timeout.toNanos();
    for (int i = 0; i < seen.size(); i++) {
      var s = seen.get(i);
      while (s.events().stream().noneMatch(e -> e.getKv().getKey().toStringUtf8().equals(marker))) {
        if (System.nanoTime() > deadline || !s.errors().isEmpty()) {
          problems.add("watcher " + i + " did not see the end marker (" + s.events().size() + " events"
              + (s.errors().isEmpty() ? "" : ", errors " + s.errors()) + ")");
          break;
        }
        Thread.sleep(50);
      }
    }
    if (!problems.isEmpty()) {
      return problems;
    }
    var first = lines(seen.getFirst().events());
    for (int i = 1; i < seen.size(); i++) {
      var other = lines(seen.get(i).events());
      if (!other.equals(first)) {
        problems.add("watcher " + i + " saw " + other.size() + " events, watcher 0 " + first.size()
            + "; first difference at " + firstDifference(first, other));
      }
    }
    var events = seen.getFirst().events().stream()
        .filter(e -> !e.getKv().getKey().toStringUtf8().equals(marker)).toList();
    long last = 0;
    var values = new HashSet<String>();
    var state = new HashMap<String, String>();
    Map<String, String> stateAtScan = null;
    for (var e : events) {
      if (stateAtScan == null && e.getKv().getModRevision() > scanRevision) {
        stateAtScan = new HashMap<>(state); // every event up to the scan's revision is in
      }
      long rev = e.getKv().getModRevision();
      if (rev <= last) {
        problems.add("revision " + rev + " after " + last + ": out of order or twice");
      }
      last = rev;
      var key = e.getKv().getKey().toStringUtf8();
      if (e.getType() == Event.Type.PUT) {
        var value = e.getKv().getValue().toStringUtf8();
        if (!values.add(value)) {
          problems.add("value " + value + " delivered twice");
        }
        state.put(key, value);
      } else {
        state.remove(key);
      }
    }
    if (stateAtScan == null) {
      stateAtScan = state;
    }
    if (!stateAtScan.equals(scanned)) {
      var keys = new java.util.TreeSet<>(stateAtScan.keySet());
      keys.addAll(scanned.keySet());
      for (var k : keys) {
        if (!java.util.Objects.equals(stateAtScan.get(k), scanned.get(k))) {
          problems.add("replaying the events up to revision " + scanRevision + " gives " + k + "=" + stateAtScan.get(k)
              + ", a scan at that revision " + scanned.get(k));
        }
      }
    }
    checkAgainstHistory(history, values, problems);
    return problems;
  }

  private static void checkAgainstHistory(List<Operation> history, Set<String> values, List<String> problems) {
    var written = new HashSet<String>();
    for (var op : history) {
      switch (op.kind()) {
        case PUT -> {
          written.add(op.value());
          if (!op.unknown() && !values.contains(op.value())) {
            problems.add("acknowledged put of " + op.key() + "=" + op.value() + " is not among the events");
          }
        }
        case CAS -> {
          written.add(op.value());
          if (!op.unknown() && "true".equals(op.output()) && !values.contains(op.value())) {
            problems.add("acknowledged cas of " + op.key() + "=" + op.value() + " is not among the events");
          }
        }
        case GET, DELETE -> { }
      }
    }
    for (var v : values) {
      if (!written.contains(v)) {
        problems.add("event value " + v + " was never written");
      }
    }
  }

  private static List<String> lines(List<Event> events) {
    return events.stream().map(e -> e.getType() + " " + e.getKv().getKey().toStringUtf8() + " "
        + e.getKv().getValue().toStringUtf8() + " @" + e.getKv().getModRevision()).toList();
  }

  private static String firstDifference(List<String> a, List<String> b) {
    for (int i = 0; i < Math.min(a.size(), b.size()); i++) {
      if (!a.get(i).equals(b.get(i))) {
        return i + ": " + a.get(i) + " vs " + b.get(i);
      }
    }
    return Math.min(a.size(), b.size()) + " (one is a prefix of the other)";
  }

  @Override
  public void close() {
    watchers.forEach(Watcher::close);
    clients.forEach(KvClient::close);
  }
}
