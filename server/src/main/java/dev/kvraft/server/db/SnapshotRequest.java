package dev.kvraft.server.db;

import dev.kvraft.proto.Error;
import dev.kvraft.proto.Header;
import dev.kvraft.proto.Response;
import dev.kvraft.proto.SnapshotResult;
import java.util.concurrent.TimeUnit;

/** A client's Snapshot command: copy the state on the loop thread, write it on the snapshot writer's. */
final class SnapshotRequest {
  private SnapshotRequest() {}

  /** Loop thread: copies the state now; the writer's thread answers once the file is on disk. */
  static void start(Event.Command c, Snapshotter writer, Applier applier, Replies replies, String nodeId) {
    if (writer == null) {
      replies.error(c, Error.Code.UNAVAILABLE, "snapshots are not set up on this node", "");
      return;
    }
    var id = c.request().getId();
    java.util.concurrent.CompletableFuture<Snapshotter.Written> written;
    try {
      written = writer.write(applier.pointInTime());
    } catch (java.util.concurrent.RejectedExecutionException e) {
      // Ratis closed the state machine (and its writer) before the loop stopped: the node is going down.
      written = java.util.concurrent.CompletableFuture.failedFuture(e);
    }
    replies.handedOff(); // answered from the writer's thread from here on
    written.whenComplete((w, err) -> {
      if (err != null) {
        var cause = Failures.cause(err);
        replies.answer(c, cause instanceof java.util.concurrent.RejectedExecutionException
            ? Replies.error(id, Error.Code.UNAVAILABLE, "node " + nodeId + " is stopping: its snapshot writer is"
                + " closed; use another node", "")
            : Replies.error(id, Error.Code.INTERNAL, "snapshot failed: " + cause.getMessage(), ""));
        return;
      }
      replies.answer(c, Response.newBuilder().setId(id)
          .setHeader(Header.newBuilder().setNodeId(nodeId).setRevision(w.revision()))
          .setSnapshot(SnapshotResult.newBuilder()
              .setTerm(w.term()).setIndex(w.index()).setRevision(w.revision()).setKeyCount(w.keyCount())
              .setFile(w.file()).setBytes(w.bytes())
              .setCopyMicros(TimeUnit.NANOSECONDS.toMicros(w.copyNanos()))
              .setWriteMicros(TimeUnit.NANOSECONDS.toMicros(w.writeNanos())))
          .build());
    });
  }
}
