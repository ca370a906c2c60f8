package dev.kvraft.server.db;

import com.google.protobuf.UnsafeByteOperations;
import dev.kvraft.proto.CancelWatchResult;
import dev.kvraft.proto.Error;
import dev.kvraft.proto.Response;
import dev.kvraft.proto.WatchResult;
import java.util.ArrayList;
import java.util.List;

/**
 * The protocol messages of watches: the answers to {@code watch} ({@code created}, or {@code COMPACTED}) and to
 * {@code cancel_watch}, and the stream messages under a watch's id: events in whole revisions, a cancel with its
 * reason, a progress notification. Each stream message's header names the last revision it covers.
 *
 * <p>Stateless: it holds only the {@link Replies} whose headers it uses. Used on the database loop's thread by
 * {@link Watches}, and on catch-up threads by {@link WatchCatchUp} ({@link #message} and {@link #canceled}).
 */
final class WatchMessages {
  /** A stream message holds whole revisions up to about this many bytes (one large revision may be more). */
  static final int MESSAGE_BYTES = 1 << 20;

  private final Replies replies;

  WatchMessages(Replies replies) {
    this.replies = replies;
  }

  /** The answer to a watch that opened, naming the revision it opened at. */
  Response created(long id, long revision) {
    return replies.respond(id).setHeader(replies.header(revision))
        .setWatch(WatchResult.newBuilder().setCreated(true)).build();
  }

  /** The answer to a watch that would start at {@code start}, below the compact revision {@code compacted}. */
  static Response compacted(long id, long start, long compacted) {
    var refused = Replies.error(id, Error.Code.COMPACTED, "revision " + start + " is compacted; history"
        + " starts at revision " + compacted + ": watch from there or later", "");
    return refused.toBuilder().setError(refused.getError().toBuilder().setCompactRevision(compacted)).build();
  }

  /** The answer to a cancel_watch: whether the watch was open on this connection. */
  Response cancelWatch(long id, boolean found) {
    return replies.respond(id).setCancelWatch(CancelWatchResult.newBuilder().setCanceled(found)).build();
  }

  /** The stream messages for whole revisions: about {@link #MESSAGE_BYTES} each, never splitting a revision. */
  List<Response> events(Watcher w, List<WatchRevision> revisions) {
    var out = new ArrayList<Response>();
    var events = WatchResult.newBuilder();
    long bytes = 0;
    long last = 0;
    for (var r : revisions) {
      for (var c : r.changes()) {
        if (w.holds(c.keyBytes()) && w.wants(c.now() == null)) {
          events.addEvents(event(c, w.watch.getPrevKv()));
        }
      }
      bytes += r.bytes();
      last = r.revision();
      if (bytes >= MESSAGE_BYTES) {
        out.add(message(w.id, last, events));
        events = WatchResult.newBuilder();
        bytes = 0;
      }
    }
    if (events.getEventsCount() > 0) {
      out.add(message(w.id, last, events));
    }
    return out;
  }

  static dev.kvraft.proto.Event event(WatchChange c, boolean prevKv) {
    var e = dev.kvraft.proto.Event.newBuilder();
    if (c.now() != null) {
      e.setType(dev.kvraft.proto.Event.Type.PUT).setKv(c.now().toKeyValue());
    } else {
      e.setType(dev.kvraft.proto.Event.Type.DELETE).setKv(dev.kvraft.proto.KeyValue.newBuilder()
          .setKey(UnsafeByteOperations.unsafeWrap(c.prev().key())).setModRevision(c.revision()));
    }
    if (prevKv && c.prev() != null) {
      e.setPrevKv(c.prev().toKeyValue());
    }
    return e.build();
  }

  /**
   * The last message of a watch's stream: it was cancelled for {@code reason}. Its {@code cancel_code} is COMPACTED
   * when {@code compactRevision} is set (the history it needs is gone here), else UNAVAILABLE (this node cannot serve
   * it now); another node may serve it either way.
   */
  Response canceled(long id, long revision, String reason, long compactRevision) {
    return message(id, revision, WatchResult.newBuilder().setCanceled(true).setCancelReason(reason)
        .setCompactRevision(compactRevision)
        .setCancelCode(compactRevision > 0 ? Error.Code.COMPACTED : Error.Code.UNAVAILABLE));
  }

  /** A progress notification: the watch has seen every revision up to {@code revision}. */
  Response progress(long id, long revision) {
    return message(id, revision, WatchResult.newBuilder().setProgress(true));
  }

  /** One stream message under the watch's id, its header naming {@code revision}. */
  Response message(long id, long revision, WatchResult.Builder result) {
    return Response.newBuilder().setId(id).setHeader(replies.header(revision)).setWatch(result).build();
  }
}
