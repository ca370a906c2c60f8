package dev.kvraft.server.net;

import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import dev.kvraft.server.db.CommandSink;
import dev.kvraft.server.db.Replier;
import dev.kvraft.server.db.RequestObserver;
import dev.kvraft.server.db.RequestTrace;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/** A database loop for listener tests: answers every request it is handed at once, empty and OK, and keeps it. */
final class AnsweringLoop implements CommandSink {
  /** The requests handed to the loop, in order, as the connection handed them on (its user set). */
  final List<Request> requests = new CopyOnWriteArrayList<>();

  /** The ids of the requests handed to the loop, in order. */
  List<Long> handed() {
    return requests.stream().map(Request::getId).toList();
  }

  @Override
  public boolean submit(Request request, Replier replier, long deadline, RequestTrace trace) {
    requests.add(request);
    replier.reply(Response.newBuilder().setId(request.getId()).build());
    return true;
  }

  @Override
  public RequestObserver requestObserver() {
    return RequestObserver.NONE;
  }
}
