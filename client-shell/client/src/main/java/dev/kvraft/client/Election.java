package dev.kvraft.client;

import com.google.protobuf.ByteString;
import dev.kvraft.proto.Compare;
import dev.kvraft.proto.Consistency;
import dev.kvraft.proto.KeyValue;
import dev.kvraft.proto.Op;
import dev.kvraft.proto.Put;
import dev.kvraft.proto.Scan;
import dev.kvraft.proto.Txn;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * Leader election for the caller's own programs, as etcd's {@code concurrency.Election}, built like {@link Lock}
 * (leases, transactions, watches; nothing on the server): every candidate writes {@code NAME/<lease id>} holding
 * its value, the lowest create revision leads, and the others wait for the key before theirs to go.
 */
public final class Election {
  private final KvClient client;
  private final String name;
  private final ByteString prefix;

  Election(KvClient client, String name) {
    if (name.isEmpty()) {
      throw new IllegalArgumentException("an election needs a name");
    }
    this.client = client;
    this.name = name;
    this.prefix = KvClient.utf8(name + "/");
  }

  /** Waits until this candidate leads, publishing {@code value}; close the result (or {@link #resign}) to step down. */
  public Lock campaign(ByteString value, long ttlSeconds) throws InterruptedException {
    return Lock.acquire(client, name, ttlSeconds, value);
  }

  /** The leader publishes a new value; false when it no longer leads. */
  public boolean proclaim(Lock leadership, ByteString value) {
    return client.txn(Txn.newBuilder()
        .addCompare(Compare.newBuilder().setKey(leadership.key()).setTarget(Compare.Target.CREATE_REVISION)
            .setOperator(Compare.Operator.EQUAL).setCreateRevision(leadership.revision()))
        .addSuccess(Op.newBuilder().setPut(Put.newBuilder().setKey(leadership.key()).setValue(value)
            .setLease(leadership.leaseId()))).build()).getSucceeded();
  }

  /** Steps down: the next candidate leads. */
  public void resign(Lock leadership) {
    leadership.close();
  }

  /** Who leads now: the candidate key with the lowest create revision, with its value. */
  public Optional<KeyValue> leader() {
    return leaderAt().leader();
  }

  private record Seen(Optional<KeyValue> leader, long revision) {}

  /**
   * The leader and the revision it was read at. The candidates' keys are scanned without values, page by page (an
   * answer stops at the server's {@code limit.answer.bytes} or {@code limit.scan}), then the lowest is read with its
   * value. A candidate that came meanwhile has a higher create revision, so it cannot lead; one that left meanwhile
   * is found missing, and the search starts again.
   */
  private Seen leaderAt() {
    while (true) {
      KeyValue lowest = null;
      long revision = 0;
      var start = prefix;
      var end = KvClient.prefixEnd(prefix);
      while (true) {
        var r = client.call(dev.kvraft.proto.Request.newBuilder().setScan(Scan.newBuilder().setStart(start)
            .setEnd(end).setKeysOnly(true).setConsistency(Consistency.LINEARIZABLE).setLimit(0)));
        revision = r.getHeader().getRevision();
        var page = r.getScan();
        for (var kv : page.getKvsList()) {
          if (lowest == null || kv.getCreateRevision() < lowest.getCreateRevision()) {
            lowest = kv;
          }
        }
        if (!page.getMore() || page.getKvsCount() == 0) {
          break;
        }
        start = page.getKvs(page.getKvsCount() - 1).getKey().concat(ByteString.copyFrom(new byte[1]));
      }
      if (lowest == null) {
        return new Seen(Optional.empty(), revision);
      }
      var r = client.call(dev.kvraft.proto.Request.newBuilder().setGet(dev.kvraft.proto.Get.newBuilder()
          .setKey(lowest.getKey()).setConsistency(Consistency.LINEARIZABLE)));
      var got = r.getGet();
      if (got.hasKv() && got.getKv().getCreateRevision() == lowest.getCreateRevision()) {
        return new Seen(Optional.of(got.getKv()), r.getHeader().getRevision());
      }
    }
  }

  /**
   * Tells {@code listener} who leads now and at every change of leader or of its value, until the watcher is
   * closed. Calls come on the watch's delivery thread.
   */
  public Watcher observe(Consumer<Optional<KeyValue>> listener) {
    var last = new Object() {
      Optional<KeyValue> seen = null;
    };
    var now = leaderAt();
    last.seen = now.leader();
    listener.accept(now.leader());
    long from = now.revision() + 1;
    return client.watch(prefix, KvClient.prefixEnd(prefix), from, (events, revision) -> {
      var current = leader();
      if (!current.equals(last.seen)) {
        last.seen = current;
        listener.accept(current);
      }
    });
  }
}
