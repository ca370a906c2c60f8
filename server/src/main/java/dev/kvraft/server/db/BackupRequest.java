package dev.kvraft.server.db;

import com.google.protobuf.ByteString;
import dev.kvraft.proto.BackupResult;
import dev.kvraft.proto.Error;
import dev.kvraft.proto.Header;
import dev.kvraft.proto.Response;

/**
 * A client's Backup command, once its read barrier passed (it travels the linearizable read path, so the copy holds
 * every write acknowledged before the backup began): copy the state on the loop thread, write it on the backup
 * writer's, answer from there.
 */
final class BackupRequest {
  private BackupRequest() {}

  static void start(Event.Command c, BackupWriter writer, Applier applier, Replies replies, String nodeId) {
    if (writer == null) {
      replies.error(c, Error.Code.UNAVAILABLE, "backups are not set up on node " + nodeId, "");
      return;
    }
    var id = c.request().getId();
    replies.handedOff();
    writer.write(applier::pointInTime).whenComplete((m, err) -> {
      if (err != null) {
        var cause = Failures.cause(err);
        replies.answer(c, cause instanceof BackupWriter.Full
            ? Replies.error(id, Error.Code.OVERLOADED, cause.getMessage(), "")
            : Replies.error(id, Error.Code.INTERNAL, "backup on node " + nodeId + " failed: " + cause.getMessage(),
                ""));
        return;
      }
      replies.answer(c, Response.newBuilder().setId(id)
          .setHeader(Header.newBuilder().setNodeId(nodeId).setRevision(m.revision()))
          .setBackup(BackupResult.newBuilder().setBackupId(m.id()).setBytes(m.bytes())
              .setSha256(ByteString.copyFrom(m.sha256())).setRevision(m.revision()).setTerm(m.term())
              .setIndex(m.index()).setKeyCount(m.keyCount()))
          .build());
    });
  }
}
