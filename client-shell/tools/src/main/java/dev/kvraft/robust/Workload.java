package dev.kvraft.robust;

import dev.kvraft.client.KvClient;
import dev.kvraft.client.KvException;
import dev.kvraft.client.KvTimeoutException;
import dev.kvraft.client.OverloadedException;
import dev.kvraft.client.UnavailableException;
import dev.kvraft.proto.Consistency;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Concurrent clients running a random mix of Put, linearizable Get, Delete and compare-and-set over a few keys (so
 * operations collide), recording every operation with its invoke and completion time, or that its outcome is
 * unknown.
 *
 * <p>How an answer is recorded: a success with its result; {@code UNAVAILABLE} and {@code OVERLOADED} mean "not
 * applied", so the operation is left out; {@code TIMEOUT} (or a lost connection) on a write is recorded with an
 * unknown outcome, on a read it is left out (an unanswered read constrains nothing). Any other error is a bug and
 * is counted in {@link #errors()}.
 *
 * <p>Each client is a platform thread of its own ({@code kvraft-torture-client-N}) with its own {@link KvClient};
 * the history is a concurrent queue they append to.
 */
public final class Workload implements AutoCloseable {
  private final List<String> addresses;
  private final Access access;
  private final int clients;
  private final List<String> keys;
  private final long seed;
  private final ConcurrentLinkedQueue<Operation> history = new ConcurrentLinkedQueue<>();
  private final ConcurrentLinkedQueue<String> errors = new ConcurrentLinkedQueue<>();
  private final AtomicBoolean stop = new AtomicBoolean();
  private final List<Thread> threads = new ArrayList<>();

  public Workload(List<String> addresses, int clients, List<String> keys, long seed) {
    this(addresses, Access.PLAIN, clients, keys, seed);
  }

  /** Every client reaches the cluster with {@code access} (TLS, a user). */
  public Workload(List<String> addresses, Access access, int clients,
      List<String> keys, long seed) {
    this.access = access;
    this.addresses = List.copyOf(addresses);
    this.clients = clients;
    this.keys = List.copyOf(keys);
    this.seed = seed;
  }

  public Workload start() {
    for (int i = 0; i < clients; i++) {
      int client = i;
      threads.add(Thread.ofPlatform().name("kvraft-torture-client-" + i).start(() -> run(client)));
    }
    return this;
  }

  private void run(int client) {
    var random = new Random(seed * 1_000_003 + client);
    var lastSeen = new HashMap<String, String>();
    long n = 0;
    // Odd clients read through whichever node they are connected to, so that a follower's read index (asked of the
    // leader, then waited for) is checked under the faults too; even ones send their reads to the leader.
    try (var kv = access.client(String.join(",", addresses)).timeout(Duration.ofSeconds(3))
        .connectTimeout(Duration.ofMillis(500)).readsToLeader(client % 2 == 0).build()) {
      while (!stop.get()) {
        var key = keys.get(random.nextInt(keys.size()));
        var value = "c" + client + "-" + (n++);
        int dice = random.nextInt(100);
        long invoke = System.nanoTime();
        try {
          if (dice < 35) {
            kv.put(KvClient.utf8(key), KvClient.utf8(value));
            history.add(Operation.put(client, key, value, invoke, System.nanoTime()));
          } else if (dice < 70) {
            var read = kv.get(KvClient.utf8(key), Consistency.LINEARIZABLE).map(x -> x.getValue().toStringUtf8())
                .orElse(null);
            history.add(Operation.get(client, key, read, invoke, System.nanoTime()));
            lastSeen.put(key, read);
          } else if (dice < 80) {
            long deleted = kv.delete(key);
            history.add(Operation.delete(client, key, deleted > 0, invoke, System.nanoTime()));
          } else {
            var expected = lastSeen.get(key);
            boolean ok = kv.cas(KvClient.utf8(key), expected == null ? null : KvClient.utf8(expected),
                KvClient.utf8(value));
            history.add(Operation.cas(client, key, expected, value, ok, invoke, System.nanoTime()));
          }
        } catch (UnavailableException | OverloadedException e) {
          // Not applied: nothing to record.
        } catch (KvTimeoutException e) {
          if (dice >= 35 && dice < 70) {
            continue;
          }
          if (dice < 35) {
            history.add(Operation.put(client, key, value, invoke, Operation.UNKNOWN_END));
          } else if (dice < 80) {
            history.add(Operation.delete(client, key, null, invoke, Operation.UNKNOWN_END));
          } else {
            history.add(Operation.cas(client, key, lastSeen.get(key), value, null, invoke, Operation.UNKNOWN_END));
          }
        } catch (KvException | IllegalStateException e) {
          errors.add("client " + client + ": " + e);
        }
      }
    }
  }

  /** Stops the clients and waits for them. */
  public void stop() throws InterruptedException {
    stop.set(true);
    for (var t : threads) {
      t.join(Duration.ofSeconds(30).toMillis());
    }
  }

  /**
   * After {@link #stop()}: reads every key once more (retrying until the cluster answers) and records those reads,
   * so the check also covers the final state: every acknowledged write is in it or was overwritten.
   */
  public void finalReads(Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    try (var kv = access.client(String.join(",", addresses)).timeout(Duration.ofSeconds(3)).build()) {
      for (var key : keys) {
        while (true) {
          long invoke = System.nanoTime();
          try {
            var read = kv.get(KvClient.utf8(key), Consistency.LINEARIZABLE).map(x -> x.getValue().toStringUtf8())
                .orElse(null);
            history.add(Operation.get(clients, key, read, invoke, System.nanoTime()));
            break;
          } catch (KvException e) {
            if (System.nanoTime() > deadline) {
              errors.add("the final read of " + key + " failed: " + e.getMessage());
              break;
            }
            Thread.sleep(100);
          }
        }
      }
    }
  }

  public List<Operation> history() {
    var list = new ArrayList<>(history);
    list.sort(java.util.Comparator.comparingLong(Operation::invoke));
    return Collections.unmodifiableList(list);
  }

  public List<String> errors() {
    return List.copyOf(errors);
  }

  @Override
  public void close() throws InterruptedException {
    stop();
  }
}
