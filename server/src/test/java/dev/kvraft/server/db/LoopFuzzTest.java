package dev.kvraft.server.db;

import static org.junit.jupiter.api.Assertions.*;

import com.google.protobuf.ByteString;
import dev.kvraft.proto.AuthChange;
import dev.kvraft.proto.Consistency;
import dev.kvraft.proto.LogEntry;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import dev.kvraft.proto.Scan;
import dev.kvraft.server.auth.Passwords;
import dev.kvraft.server.config.ServerConfig;
import dev.kvraft.server.net.RequestValidator;
import dev.kvraft.server.testing.RandomMessages;
import dev.kvraft.server.testing.Requests;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The whole database loop, every layer around the apply step included (auth, alarms, compaction, leases, watches),
 * under random input: the requests a client may send, and the entries anyone who reaches the Raft port could get
 * committed. The loop is the node's one owner of its data, so an exception there stops the node for good, and an
 * exception while applying a committed entry stops every node the same way, again at each restart. So: every request
 * the validator lets through is answered and the loop lives on; any committed entries apply on two nodes without an
 * exception, and leave the two with the same data.
 *
 * <p>The messages come from {@link RandomMessages}: any command, any field, values from pools of edge cases shared by
 * all messages (so that they name the same keys, users and leases). The seed is fixed so that a failure repeats;
 * {@code -Dkvraft.fuzz.seed=N} tries another, and every failure names the seed and the message.
 */
@Timeout(120)
class LoopFuzzTest {
  private static final long SEED = Long.getLong("kvraft.fuzz.seed", 20261207L);
  private static final ServerConfig CONFIG = ServerConfig.fromMap(Map.of("node.id", "n1",
      "cluster", "n1=127.0.0.1:7001:7002,n2=127.0.0.1:7003:7004", "request.timeout.ms", "1500"));
  private static final Snapshotter SNAPSHOTS = s -> CompletableFuture.completedFuture(new Snapshotter.Written(
      s.term(), s.index(), s.revision(), s.kvs().size(), "fuzz", 0, 0, 0));
  private final List<DatabaseLoop> loops = new ArrayList<>();
  private final RandomMessages messages = RandomMessages.seeded(SEED, 5);

  @AfterEach
  void stop() throws InterruptedException {
    for (var loop : loops) {
      loop.close();
    }
  }

  private DatabaseLoop start(String proposer, FakeRaft raft) {
    var loop = new DatabaseLoop(CONFIG, proposer);
    loops.add(loop);
    loop.bind(raft, new FakeLink(), ApplyObserver.NONE, SNAPSHOTS);
    loop.start();
    return loop;
  }

  @Test
  void everyRequestTheValidatorLetsThroughIsAnsweredAndTheLoopLivesOn() throws Exception {
    var raft = new FakeRaft();
    raft.leader = true;
    raft.members = List.of(new Consensus.Member("n1", "127.0.0.1:7001", "127.0.0.1:7002", true),
        new Consensus.Member("n2", "127.0.0.1:7003", "127.0.0.1:7004", true));
    var loop = start("n1@fuzz", raft);
    var sink = new Answers();
    var validator = new RequestValidator(CONFIG.limits());
    var hash = Passwords.hash("secret");
    try (var raftThread = new CommittingRaft(raft, loop)) {
      var sent = new ArrayList<Request>();
      for (long id = 1; sent.size() < 2_000; id++) {
        var r = asAClientSends(messages.next(Request.getDefaultInstance()), id, hash);
        if (r == null || validator.validate(r).isPresent()) {
          continue;
        }
        sent.add(r);
        assertTrue(loop.commands().submit(r, sink, System.nanoTime() + TimeUnit.SECONDS.toNanos(2),
            RequestTrace.receivedNow("fuzz")), "the loop's queue took request " + r.getId());
        if (sent.size() % 32 == 0) {
          sink.awaitAll(sent, "seed " + SEED);
        }
      }
      sink.awaitAll(sent, "seed " + SEED);
      var put = Requests.put(Long.MAX_VALUE - 1, "after-the-fuzz", "alive");
      var get = Request.newBuilder(Requests.get(Long.MAX_VALUE, "after-the-fuzz")).setUser("root").build();
      for (var r : List.of(Request.newBuilder(put).setUser("root").build(), get)) {
        assertTrue(loop.commands().submit(r, sink, System.nanoTime() + TimeUnit.SECONDS.toNanos(5),
            RequestTrace.receivedNow("fuzz")));
        sink.awaitAll(List.of(r), "seed " + SEED + ", after the fuzz");
      }
      var wrote = sink.first.get(put.getId());
      var read = sink.first.get(get.getId());
      // The random requests may have raised an alarm or turned auth on: then the put is refused, for that reason.
      var refusals = java.util.Set.of(dev.kvraft.proto.Error.Code.RESOURCE_EXHAUSTED,
          dev.kvraft.proto.Error.Code.PERMISSION_DENIED, dev.kvraft.proto.Error.Code.UNAUTHENTICATED);
      assertTrue(wrote.hasError() ? refusals.contains(wrote.getError().getCode())
          : read.getGet().getKv().getValue().toStringUtf8().equals("alive"),
          "seed " + SEED + ": the loop still applies and reads, or refuses for a reason: " + wrote + read);
      assertFalse(loop.died(), "seed " + SEED + ": the loop lives");
      assertEquals(List.of(), raftThread.failedApplies, "seed " + SEED + ": every entry applied");
      assertEquals(Map.of(), sink.answeredTwice, "seed " + SEED + ": one answer per request");
      for (var r : sent) {
        var a = sink.first.get(r.getId());
        assertFalse(a.hasError() && (a.getError().getCode() == dev.kvraft.proto.Error.Code.INTERNAL
            || a.getError().getCode() == dev.kvraft.proto.Error.Code.UNAVAILABLE && a.getError().getMessage()
            .contains("database loop stopped")), "seed " + SEED + ": request failed on the loop: " + r + " -> " + a);
      }
      if (Boolean.getBoolean("kvraft.fuzz.stats")) {
        var counts = new java.util.TreeMap<String, Integer>();
        for (var r : sent) {
          var a = sink.first.get(r.getId());
          counts.merge(r.getCommandCase() + " " + (a.hasError() ? a.getError().getCode() : "OK"), 1, Integer::sum);
        }
        System.err.println("fuzz answers: " + counts + "; after: " + wrote + read);
      }
    }
  }

  @Test
  void anyCommittedEntriesApplyOnTwoNodesWithoutAnExceptionAndLeaveThemAgreeing() throws Exception {
    var a = start("n1@fuzz", new FakeRaft());
    var b = start("n2@fuzz", new FakeRaft());
    var c = start("n3@fuzz", new FakeRaft());
    var random = messages.random();
    int entries = 3_000;
    for (long index = 1; index <= entries; index++) {
      ByteString bytes;
      if (random.nextInt(20) == 0) {
        var junk = new byte[random.nextInt(16)];
        random.nextBytes(junk);
        bytes = ByteString.copyFrom(junk);
      } else {
        var e = messages.next(LogEntry.getDefaultInstance());
        bytes = e.toBuilder().setProposer(random.nextBoolean() ? "n1@fuzz" : "n3@elsewhere").build().toByteString();
      }
      var at = LogPosition.of(1 + index / 500, index);
      for (var loop : List.of(a, b)) {
        try {
          loop.stateMachine().applied(at, bytes).get(5, TimeUnit.SECONDS);
        } catch (Exception e) {
          fail("seed " + SEED + ": entry " + index + " did not apply: " + e + "; entry: " + describe(bytes), e);
        }
      }
      if (index % 250 == 0) {
        snapshotInstallsTheSameState(a, c, "seed " + SEED + ", after entry " + index);
      }
    }
    assertEquals(entries, a.appliedIndex());
    assertEquals(entries, b.appliedIndex());
    assertEquals(a.revision(), b.revision(), "seed " + SEED + ": both nodes reach the same revision");
    assertEquals(everything(a), everything(b), "seed " + SEED + ": both nodes hold the same keys and values");
  }

  /**
   * A snapshot of {@code from}'s state, installed on {@code to} (as a follower that lags, a node that restarts, a
   * restore do), installs without an exception and gives the same state: the same keys, and the same system state
   * (users, roles, leases, alarms, compaction) when {@code to} snapshots it again.
   */
  private static void snapshotInstallsTheSameState(DatabaseLoop from, DatabaseLoop to, String when) throws Exception {
    var copy = from.stateMachine().pointInTime().get(5, TimeUnit.SECONDS);
    var loader = new KvState.Loader();
    copy.kvs().forEach(loader::add);
    try {
      to.stateMachine().install(LogPosition.of(copy.term(), copy.index()), copy.revision(), copy.configuration(),
          loader.build(), copy.system(), "fuzz").get(5, TimeUnit.SECONDS);
    } catch (Exception e) {
      fail(when + ": the snapshot did not install: " + e + "; its system state: " + copy.system(), e);
    }
    assertEquals(copy.revision(), to.revision(), when);
    assertEquals(everything(from), everything(to), when + ": the installed snapshot holds the same keys");
    var again = to.stateMachine().pointInTime().get(5, TimeUnit.SECONDS).system();
    var differ = new java.util.TreeMap<String, String>();
    var keys = new java.util.TreeSet<>(copy.system().keySet());
    keys.addAll(again.keySet());
    for (var k : keys) {
      if (!java.util.Objects.equals(timeless(k, copy.system().get(k)), timeless(k, again.get(k)))) {
        differ.put(k, copy.system().get(k) + " -> " + again.get(k));
      }
    }
    assertEquals(Map.of(), differ, when + ": the installed snapshot holds the same system state");
  }

  /** A system value without the time a lease has left, which runs on between two snapshots: its TTL stays. */
  private static String timeless(String key, String value) {
    return value != null && key.startsWith("lease.") ? value.split(" ")[0] : value;
  }

  /** Every key and value on {@code loop}, read as root (whoever the random entries left able to read). */
  private static List<String> everything(DatabaseLoop loop) throws Exception {
    var sink = new Answers();
    var scan = Request.newBuilder().setId(1).setUser(AuthLayer.SYSTEM).setScan(Scan.newBuilder()
        .setEnd(ByteString.copyFrom(new byte[] {0})).setConsistency(Consistency.STALE)).build();
    assertTrue(loop.commands().submit(scan, sink, System.nanoTime() + TimeUnit.SECONDS.toNanos(5),
        RequestTrace.receivedNow("fuzz")));
    sink.awaitAll(List.of(scan), "the final scan");
    var answer = sink.first.get(1L);
    assertFalse(answer.hasError(), answer.toString());
    return answer.getScan().getKvsList().stream().map(kv -> kv.getKey().toStringUtf8() + "=" + kv.getValue()
        .toStringUtf8() + "@" + kv.getModRevision() + "/" + kv.getVersion()).toList();
  }

  /**
   * What reaches the loop when a client (not a member) sends {@code r} as request {@code id}, as the connection's
   * {@code RequestHandler} passes it on: it runs as a user the connection could have authenticated as, never
   * forwarded; a password is hashed ({@code hash}); null when the connection answers it itself.
   */
  private Request asAClientSends(Request r, long id, String hash) {
    if (r.hasReadIndex() || r.hasMemberHello() || r.hasAuthenticate() || r.hasBackupChunk()
        || r.getCommandCase() == Request.CommandCase.COMMAND_NOT_SET && messages.random().nextBoolean()) {
      return null;
    }
    var users = List.of("", "root", "alice");
    var b = r.toBuilder().setId(id).setForwarded(false).setUser(users.get(messages.random().nextInt(users.size())));
    if (r.hasAuthChange()) {
      var c = r.getAuthChange();
      if (!c.getPasswordHash().isEmpty()) {
        return null;
      }
      boolean hashes = !c.getPassword().isEmpty() && (c.getAction() == AuthChange.Action.USER_ADD
          || c.getAction() == AuthChange.Action.USER_PASSWORD);
      b.setAuthChange(hashes ? c.toBuilder().clearPassword().setPasswordHash(hash) : c.toBuilder().clearPassword());
    }
    return b.build();
  }

  private static String describe(ByteString bytes) {
    try {
      return LogEntry.parseFrom(bytes).toString().replace('\n', ' ');
    } catch (com.google.protobuf.InvalidProtocolBufferException e) {
      return "(not a LogEntry) " + bytes.size() + " bytes";
    }
  }

  /** The first message each request got: its answer, or a watch's first (the loop may send either way). */
  private static final class Answers implements WatchSink {
    final Map<Long, Response> first = new ConcurrentHashMap<>();
    /** Answers ({@link #reply}, not a watch's stream messages) to a request that had one already. */
    final Map<Long, Response> answeredTwice = new ConcurrentHashMap<>();
    private final java.util.Set<Long> answered = ConcurrentHashMap.newKeySet();

    void awaitAll(List<Request> requests, String what) throws InterruptedException {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
      for (var r : requests) {
        while (!first.containsKey(r.getId())) {
          assertTrue(System.nanoTime() < deadline, what + ": request " + r.getId() + " got no answer within"
              + " 15 s (did the loop die?): " + r.toString().replace('\n', ' '));
          Thread.sleep(1);
        }
      }
    }

    @Override public void reply(Response response) {
      if (!answered.add(response.getId()) && !response.hasWatch()) {
        answeredTwice.put(response.getId(), response);
      }
      first.putIfAbsent(response.getId(), response);
    }
    @Override public boolean offer(Response message) { first.putIfAbsent(message.getId(), message); return true; }
    @Override public void send() { }
    @Override public boolean put(Response message) { first.putIfAbsent(message.getId(), message); return true; }
    @Override public boolean awaitRoom() { return true; }
    @Override public boolean isOpen() { return true; }
    @Override public void close() { }
    @Override public void watching(int delta) { }
    @Override public String peer() { return "fuzz"; }
  }

  /** Raft's side for a leader that commits at once: proposals are applied in order, read barriers pass. */
  private static final class CommittingRaft implements AutoCloseable {
    private final Thread thread;
    private volatile boolean stopped;
    /** The entries whose apply failed (the loop died of them). */
    final List<Long> failedApplies = new java.util.concurrent.CopyOnWriteArrayList<>();

    CommittingRaft(FakeRaft raft, DatabaseLoop loop) {
      this.thread = Thread.ofPlatform().name("fuzz-raft").start(() -> {
        long index = 1;
        while (!stopped) {
          try {
            var p = raft.proposals.poll(5, TimeUnit.MILLISECONDS);
            if (p != null) {
              p.result().complete(null);
              long at = index++;
              loop.stateMachine().applied(LogPosition.of(raft.term, at), p.entry().toByteString())
                  .whenComplete((done, failed) -> {
                    if (failed != null) {
                      failedApplies.add(at);
                    }
                  });
            }
            for (var b = raft.barriers.poll(); b != null; b = raft.barriers.poll()) {
              b.complete(index - 1);
            }
          } catch (InterruptedException e) {
            return;
          }
        }
      });
    }

    @Override
    public void close() throws InterruptedException {
      stopped = true;
      thread.join(5_000);
    }
  }
}
