package dev.kvraft.server.db;

import com.google.protobuf.ByteString;
import dev.kvraft.proto.Error;
import dev.kvraft.proto.Response;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Watches, as a layer of the apply step: every change applied on this node (leader or follower alike) goes to the
 * watchers whose range holds its key, whole revisions at a time, in revision order.
 *
 * <p>A watcher is <em>live</em> or <em>behind</em>. A live watcher gets each revision's events as they are applied,
 * gathered over one turn of the loop and queued on its connection at the end of the turn ({@link #flush}) without
 * blocking: when the connection has no room (the client reads slowly), the watcher falls behind. A behind watcher
 * (and one that starts in the past) is served by a {@link WatchCatchUp} on a thread of its own, which reads the
 * changes from {@code kvraft.db} and waits for the client as long as {@code client.write.timeout.ms} allows; when
 * it reaches the end of what kvraft.db holds it hands the watcher back to the loop ({@link #join}), which sends the
 * revisions since from its {@link RecentRevisions} (the last revisions applied, kept in memory while anyone watches)
 * and makes it live again. So a slow watcher never slows writes, never misses a revision and never sees one twice; it
 * is cancelled only when history it still needs is gone (compacted, pruned, or skipped by a snapshot install), or,
 * when it asked for {@code require_leader}, when this node has known no leader for longer than the
 * {@link LeaderAbsence} bound (it may be cut off from the majority, so it would send nothing for as long as that
 * lasts: {@link #endLeaderWatches}).
 *
 * <p>Owned by the database loop's thread: the registry, the {@link WatchIndex} of who watches which keys, the recent
 * revisions and each watcher's state while it is live. The count of open watches, and the other counts the metrics
 * read, are its {@link WatchCounts}' (which says which thread writes each). While a watcher is behind, its position
 * belongs to its catch-up thread, handed over through the loop's queue. {@link Watcher#ended} is the one field both
 * sides read. What the watches may hold, and what each connection's hold, is the {@link WatchBudget}'s (the loop's
 * thread's too): a watch opens only if it fits, is charged when it opens and discharged when it ends. The messages it
 * sends are built by {@link WatchMessages}, from the {@link WatchRevision}s it captures. Whether this node knows a
 * leader, and since when it has not, is its {@link LeaderAbsence}'s (the loop thread's too), which it ticks first on
 * each tick.
 */
final class Watches {
  private static final Logger LOG = LoggerFactory.getLogger(Watches.class);

  /** Events gathered for one live watcher in one turn before it is sent to catch up instead. */
  static final long PENDING_BYTES = 4L << 20;

  private final String nodeId;
  private final KvState state;
  private final Replies replies;
  private final WatchMessages messages;
  private final LongSupplier compactRevision;
  private final Consumer<Event> loop;
  private final long progressNanos;
  /** Since when no leader has been known, and whether that ends the {@code require_leader} watches. */
  private final LeaderAbsence leaderAbsence;
  private volatile WatchHistory history = WatchHistory.NONE;
  /** Catch-ups reading kvraft.db at a time. */
  private final java.util.concurrent.Semaphore readers = new java.util.concurrent.Semaphore(WatchCatchUp.READERS);
  /** Catch-ups with kvraft.db open (a SQLite connection, a page and the keys seen each), connections taking turns. */
  private final CatchUpTurns catchUps = new CatchUpTurns(WatchCatchUp.OPEN_AT_ONCE, WatchCatchUp.OPEN_PER_CONNECTION);

  private final Map<WatchSink, Map<Long, Watcher>> bySink = new HashMap<>();
  /** Which open watches each changed key reaches. */
  private final WatchIndex index = new WatchIndex();
  private final WatchBudget budget;
  private final List<Watcher> dirty = new ArrayList<>();
  /** The connections that staged messages in this turn: each gets one {@link WatchSink#send} at its end. */
  private final java.util.Set<WatchSink> staged = new java.util.HashSet<>();
  /** Open watches and the other counts the metrics read. */
  private final WatchCounts counts = new WatchCounts();
  private int progressWatchers;
  private long nextProgress;
  /** Open watches with {@code require_leader}. */
  private int leaderWatchers;

  /** The revisions applied last, kept while anyone watches: a {@link #join} sends those it needs. */
  private final RecentRevisions recent = new RecentRevisions();
  private final List<WatchChange> current = new ArrayList<>();
  private final Capture capture = new Capture();

  Watches(String nodeId, KvState state, Replies replies, LongSupplier compactRevision, Consumer<Event> loop,
      java.time.Duration progressInterval, LeaderAbsence leaderAbsence) {
    this.nodeId = nodeId;
    this.leaderAbsence = leaderAbsence;
    this.state = state;
    this.replies = replies;
    this.messages = new WatchMessages(replies);
    this.compactRevision = compactRevision;
    this.loop = loop;
    this.progressNanos = progressInterval.toNanos();
    this.budget = new WatchBudget(nodeId, index.ranges());
  }

  /** Where catch-ups read history; before the loop starts. */
  void history(WatchHistory h) {
    this.history = h;
  }

  // ---- the apply layer ----

  /** Forwards everything to the next listener and keeps the changes of the operation being applied. */
  private final class Capture implements KvState.OpListener {
    KvState.OpListener next = KvState.OpListener.NONE;

    @Override
    public void applied(dev.kvraft.storage.OpKind op, ByteString key, ByteString value, long revision,
        dev.kvraft.storage.OpOutcome result) {
      next.applied(op, key, value, revision, result);
    }

    @Override
    public void changed(KvState.Entry prev, KvState.Entry now, long revision) {
      next.changed(prev, now, revision);
      current.add(new WatchChange(prev, now, revision));
    }
  }

  OpApplier around(OpApplier next) {
    return (op, listener) -> {
      if (counts.open() == 0) {
        return next.apply(op, listener);
      }
      capture.next = listener;
      var response = next.apply(op, capture);
      capture.next = KvState.OpListener.NONE;
      if (!current.isEmpty()) {
        long bytes = 0;
        for (int i = 0; i < current.size(); i++) {
          bytes += current.get(i).bytes();
        }
        publish(new WatchRevision(current.getFirst().revision(), current.size() == 1 ? List.of(current.getFirst())
            : List.copyOf(current), bytes));
        current.clear();
      }
      return response;
    };
  }

  private void publish(WatchRevision r) {
    recent.add(r);
    for (var c : r.changes()) {
      var exact = index.exact(c.key());
      if (exact != null) {
        for (var w : exact) {
          offerTo(w, r, c);
        }
      }
      var covering = index.covering(c.keyBytes());
      for (int i = 0; i < covering.size(); i++) {
        offerTo(covering.get(i), r, c);
      }
    }
  }

  /** The index found {@code c}'s key in {@code w}'s range: adds the revision unless a filter leaves it out. */
  private void offerTo(Watcher w, WatchRevision r, WatchChange c) {
    if (w.wants(c.now() == null)) {
      add(w, r);
    }
  }

  /** Adds the revision if any of its changes is for {@code w} (a join replaying the recent revisions). */
  private void offerTo(Watcher w, WatchRevision r) {
    for (var c : r.changes()) {
      if (w.holds(c.keyBytes()) && w.wants(c.now() == null)) {
        add(w, r);
        return;
      }
    }
  }

  /** Adds the revision to a live watcher's pending events once (several changes may name the same watcher). */
  private void add(Watcher w, WatchRevision r) {
    if (!w.live || r.revision() < w.next) {
      return;
    }
    if (!w.pending.isEmpty() && w.pending.getLast() == r) {
      return;
    }
    if (w.pending.isEmpty()) {
      dirty.add(w);
    }
    w.pending.add(r);
    w.pendingBytes += r.bytes();
    if (w.pendingBytes > PENDING_BYTES) {
      behind(w, w.pending.getFirst().revision());
    }
  }

  /** End of a loop turn: each live watcher's pending revisions go to its connection, or it falls behind. */
  void flush() {
    if (dirty.isEmpty()) {
      return;
    }
    for (var w : dirty) {
      if (!w.live || w.ended || w.pending.isEmpty()) {
        continue;
      }
      long first = w.pending.getFirst().revision();
      boolean sent = true;
      for (var message : messages.events(w, w.pending)) {
        if (!offer(w, message)) {
          sent = false;
          break;
        }
        counts.sent(message.getWatch().getEventsCount());
        first = message.getHeader().getRevision() + 1;
      }
      if (sent) {
        w.next = w.pending.getLast().revision() + 1;
        w.lastSentNanos = System.nanoTime();
        w.pending.clear();
        w.pendingBytes = 0;
      } else {
        behind(w, first);
      }
    }
    dirty.clear();
    sendStaged();
  }

  /** Stages a message on the watcher's connection, sent at the end of the turn ({@link #sendStaged}). */
  private boolean offer(Watcher w, Response message) {
    if (!w.sink.offer(message)) {
      return false;
    }
    staged.add(w.sink);
    return true;
  }

  private void sendStaged() {
    for (var sink : staged) {
      sink.send();
    }
    staged.clear();
  }

  /** Hands the watcher to a catch-up thread from revision {@code from}. */
  private void behind(Watcher w, long from) {
    w.sink.send(); // what was staged before goes first: the catch-up thread queues its messages directly
    live(w, false);
    w.pending.clear();
    w.pendingBytes = 0;
    w.next = from;
    WatchCatchUp.start(this, w, from, false);
  }

  // ---- commands ----

  /** Opens a watch: answered at once with {@code created}, then streamed. */
  void open(Event.Command c) {
    var r = c.request();
    var sink = c.replier().watchSink();
    if (sink == null) {
      replies.error(c, Error.Code.INVALID_ARGUMENT, "a watch streams on the connection that opened it; it cannot"
          + " be forwarded", "");
      return;
    }
    if (r.getWatch().getRequireLeader() && leaderAbsence.pastBound()) {
      replies.error(c, Error.Code.UNAVAILABLE, leaderAbsence.reason() + "; watch on another node", "");
      return;
    }
    var mine = bySink.computeIfAbsent(sink, s -> new HashMap<>());
    if (mine.containsKey(r.getId())) {
      replies.error(c, Error.Code.INVALID_ARGUMENT, "watch " + r.getId() + " is already open on this connection;"
          + " use a new request id", "");
      return;
    }
    var watch = r.getWatch();
    var overloaded = budget.refusal(sink, mine.size(), counts.open(), watch);
    if (overloaded.isPresent()) {
      if (mine.isEmpty()) {
        bySink.remove(sink);
      }
      replies.error(c, Error.Code.OVERLOADED, overloaded.get(), "");
      return;
    }
    long revision = state.revision();
    long compacted = compactRevision.getAsLong();
    long start = watch.getStartRevision() == 0 ? revision + 1 : watch.getStartRevision();
    if (start < compacted) {
      if (mine.isEmpty()) {
        bySink.remove(sink);
      }
      replies.reply(c, WatchMessages.compacted(r.getId(), start, compacted));
      return;
    }
    if (counts.open() == 0) {
      recent.restartAfter(revision);
    }
    var w = new Watcher(sink, r.getId(), watch, start);
    mine.put(w.id, w);
    w.rangeEntries = index.add(w);
    counts.opened(); // catching up: not live until join() says so
    budget.charge(sink, watch, w.rangeEntries);
    if (watch.getProgressNotify()) {
      progressWatchers++;
    }
    if (watch.getRequireLeader()) {
      leaderWatchers++;
    }
    sink.watching(1);
    replies.reply(c, messages.created(r.getId(), revision));
    join(w, start);
  }

  /** Sets whether a watcher is live, counting the ones that are not. */
  private void live(Watcher w, boolean live) {
    if (w.live != live) {
      w.live = live;
      counts.live(live);
    }
  }

  /** The client's CancelWatch. */
  void cancel(Event.Command c) {
    var r = c.request();
    boolean found = false;
    var sink = c.replier().watchSink();
    if (sink != null) {
      var w = remove(sink, r.getCancelWatch().getWatchId());
      found = w != null;
    }
    replies.reply(c, messages.cancelWatch(r.getId(), found));
  }

  private Watcher remove(WatchSink sink, long id) {
    var mine = bySink.get(sink);
    if (mine == null) {
      return null;
    }
    var w = mine.remove(id);
    if (mine.isEmpty()) {
      bySink.remove(sink);
    }
    if (w != null) {
      w.ended = true;
      w.pending.clear();
      index.remove(w);
      counts.ended(w.live);
      budget.discharge(sink, w.watch, w.rangeEntries, mine.isEmpty());
      if (w.watch.getProgressNotify()) {
        progressWatchers--;
      }
      if (w.watch.getRequireLeader()) {
        leaderWatchers--;
      }
      sink.watching(-1);
      if (counts.open() == 0) {
        recent.clear();
      }
    }
    return w;
  }

  /** The connection closed: its watches end. */
  void closed(WatchSink sink) {
    catchUps.forget(sink); // its catch-ups waiting for a turn: none will run
    var mine = bySink.get(sink);
    if (mine != null) {
      for (var id : List.copyOf(mine.keySet())) {
        remove(sink, id);
      }
    }
  }

  /**
   * Ends a watch from the server's side (the catch-up thread sends the reason, when it can). Only that watch: when
   * it already ended (the client cancelled it, or its connection closed) its id may name a newer watch by now.
   */
  void end(Watcher w) {
    var mine = bySink.get(w.sink);
    if (mine != null && mine.get(w.id) == w) {
      remove(w.sink, w.id);
      counts.nodeEnded();
    }
  }

  /**
   * A watcher that reached {@code next} (from its start, or from a catch-up) becomes live: the revisions since come
   * from memory. When memory no longer has them all, it catches up from kvraft.db again.
   */
  void join(Watcher w, long next) {
    if (w.ended) {
      return;
    }
    long revision = state.revision();
    if (next > revision) {
      live(w, true);
      w.next = next;
      return;
    }
    if (recent.holdsFrom(next)) {
      live(w, true);
      w.next = next;
      for (var r : recent) {
        if (r.revision() >= next) {
          offerTo(w, r);
          if (!w.live) {
            return;
          }
        }
      }
      return;
    }
    live(w, false);
    w.next = next;
    WatchCatchUp.start(this, w, next, true);
  }

  /** A snapshot replaced the state: live watchers missed the revisions up to it, and this node has no history of them. */
  void installed(long revision) {
    recent.restartAfter(revision);
    for (var mine : List.copyOf(bySink.values())) {
      for (var w : List.copyOf(mine.values())) {
        if (w.live && w.next <= revision) {
          var reason = "node " + nodeId + " installed a snapshot at revision " + revision + " and has no history"
              + " before it; watch again from another node, or from revision " + (revision + 1);
          end(w);
          if (!offer(w, messages.canceled(w.id, revision, reason, revision + 1)) && w.sink.isOpen()) {
            // No room for the cancel: a watch ended untold would stay silent for good. Closing the connection tells
            // the client (it resumes its watches elsewhere, from their last revision), as a catch-up's cancel does.
            warn("watch {} of {}: ended by a snapshot install at revision {} with no room on its connection to say so;"
                + " closing the connection", w.id, w.sink.peer(), revision);
            w.sink.close();
          }
        }
      }
    }
    sendStaged();
  }

  /**
   * Each tick: whether a leader is known ({@link LeaderAbsence#tick}) and what that ends ({@link #endLeaderWatches}),
   * then progress notifications to the quiet live watchers that asked for them.
   */
  void tick(long now) {
    leaderAbsence.tick(now);
    endLeaderWatches();
    if (progressWatchers == 0 || now - nextProgress < 0) {
      return;
    }
    nextProgress = now + progressNanos / 4;
    long revision = state.revision();
    for (var mine : bySink.values()) {
      for (var w : mine.values()) {
        // Live with nothing pending: every revision up to now was looked at (this runs after the turn's flush).
        if (w.watch.getProgressNotify() && w.live && w.pending.isEmpty() && now - w.lastSentNanos >= progressNanos) {
          if (offer(w, messages.progress(w.id, revision))) {
            w.lastSentNanos = now;
          }
        }
      }
    }
    sendStaged();
  }

  /**
   * Once no leader has been known for longer than the {@link LeaderAbsence} bound (as of this tick), ends every live
   * {@code require_leader} watch with a cancel that says why (UNAVAILABLE), so its client watches on another node. A
   * behind watch is left to its catch-up: it ends here once it is live again (a node cut off writes nothing new, so
   * its catch-up soon reaches the end of its history). A watch whose connection has no room for the cancel now is
   * tried again next tick: ended without being told, its client would wait on it for nothing.
   */
  private void endLeaderWatches() {
    if (leaderWatchers == 0 || !leaderAbsence.pastBound()) {
      return;
    }
    var due = new ArrayList<Watcher>();
    for (var mine : bySink.values()) {
      for (var w : mine.values()) {
        if (w.watch.getRequireLeader() && w.live && !w.ended) {
          due.add(w);
        }
      }
    }
    long revision = state.revision();
    int ended = 0;
    for (var w : due) {
      // Live after this turn's flush: every revision up to now was sent, so the client resumes from w.next.
      var reason = leaderAbsence.reason() + "; watch again on another node from revision " + w.next;
      if (offer(w, messages.canceled(w.id, revision, reason, 0))) {
        end(w);
        ended++;
      }
    }
    sendStaged();
    if (ended > 0) {
      LOG.info("{}; ended {} watch(es) that require a leader (their clients watch on another node)",
          leaderAbsence.reason(), ended);
    }
  }

  // ---- for the catch-up threads and the metrics ----

  /** Read by the metrics thread ({@link WatchCounts#stats}); catch-up threads add the events they send. */
  WatchCounts counts() {
    return counts;
  }

  WatchHistory history() {
    return history;
  }

  WatchMessages messages() {
    return messages;
  }

  java.util.concurrent.Semaphore readers() {
    return readers;
  }

  CatchUpTurns catchUps() {
    return catchUps;
  }

  /** Runs a task on the loop thread. */
  void onLoop(Runnable task) {
    loop.accept(new Event.Task(task));
  }

  String nodeId() {
    return nodeId;
  }

  static void warn(String message, Object... args) {
    LOG.warn(message, args);
  }
}
