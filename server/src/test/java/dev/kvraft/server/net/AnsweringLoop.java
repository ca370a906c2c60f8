package dev.kvraft.server.net;

import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import dev.kvraft.server.db.CommandSink;
import dev.kvraft.server.db.Replier;
import dev.kvraft.server.db.RequestObserver;
import dev.kvraft.server.db.RequestTrace;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/** A database loop for listener tests: answers every request it is handed at once, empty and OK, and keeps its id. */
final class AnsweringLoop implements CommandSink {
  /** The ids of the requests handed to the loop, in order. */
  final List<Long> handed = new CopyOnWriteArrayList<>();

  @Override
  public boolean submit(Request request, Replier replier, long deadline, RequestTrace trace) {
    handed.add(request.getId());
    replier.reply(Response.newBuilder().setId(request.getId()).build());
    return true;
  }

  @Override
  public RequestObserver requestObserver() {
    return RequestObserver.NONE;
  }
}
