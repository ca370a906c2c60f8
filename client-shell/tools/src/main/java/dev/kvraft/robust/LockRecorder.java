package dev.kvraft.robust;

import dev.kvraft.client.KvClient;
import dev.kvraft.client.KvException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * Two contenders for one lock through a round's fault, each on its own client and thread
 * ({@code kvraft-torture-locker-N}), taking the lock, holding it for a moment and letting it go, again and again. Each
 * hold is recorded with its start and end ({@link System#nanoTime()}) and whether the lock was still held at the
 * end (its lease alive). Two holds that were both still held at their end must never overlap.
 */
public final class LockRecorder implements AutoCloseable {
  static final long TTL_SECONDS = 3;

  /** One hold of the lock. */
  record Hold(int locker, long start, long end, boolean heldToTheEnd, long revision) {}

  private final List<Hold> holds = new CopyOnWriteArrayList<>();
  private final List<KvClient> clients = new ArrayList<>();
  private final List<Thread> threads = new ArrayList<>();
  private volatile boolean stop;

  public static LockRecorder start(Cluster cluster, String name) {
    var r = new LockRecorder();
    for (int i = 0; i < 2; i++) {
      var client = cluster.access().client(String.join(",", cluster.addresses())).timeout(Duration.ofSeconds(2))
          .connectTimeout(Duration.ofMillis(500)).build();
      r.clients.add(client);
      int locker = i;
      r.threads.add(Thread.ofPlatform().name("kvraft-torture-locker-" + i).start(() -> r.run(locker, client, name)));
    }
    return r;
  }

  private void run(int locker, KvClient client, String name) {
    while (!stop) {
      try (var lock = client.lock(name, TTL_SECONDS)) {
        long start = System.nanoTime();
        Thread.sleep(30); // the critical section
        holds.add(new Hold(locker, start, System.nanoTime(), lock.isHeld(), lock.revision()));
      } catch (KvException e) {
        // the cluster could not be reached for a moment: try again
      } catch (InterruptedException e) {
        return;
      }
    }
  }

  /** After {@link #close}: what is wrong, two holds, each held to its end, that overlap in time. */
  public List<String> check() {
    var problems = new ArrayList<String>();
    var kept = holds.stream().filter(Hold::heldToTheEnd).sorted(java.util.Comparator.comparingLong(Hold::start))
        .toList();
    for (int i = 1; i < kept.size(); i++) {
      var a = kept.get(i - 1);
      var b = kept.get(i);
      if (b.start() < a.end()) {
        problems.add("lock held twice at once: locker " + a.locker() + " (revision " + a.revision() + ") and locker "
            + b.locker() + " (revision " + b.revision() + ") overlapped by " + (a.end() - b.start()) / 1_000_000
            + " ms");
      }
    }
    if (holds.isEmpty()) {
      problems.add("nobody got the lock during the round");
    }
    return problems;
  }

  int holds() {
    return holds.size();
  }

  /** Stops the contenders (they let the lock go). Idempotent. */
  @Override
  public void close() throws InterruptedException {
    if (stop) {
      return;
    }
    stop = true;
    for (var t : threads) {
      t.interrupt();
      t.join(Duration.ofSeconds(10).toMillis());
    }
    clients.forEach(KvClient::close);
  }
}
