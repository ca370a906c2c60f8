package dev.kvraft.server.db;

import dev.kvraft.proto.Error;
import dev.kvraft.proto.Header;
import dev.kvraft.proto.Response;

/**
 * How the database loop answers a command: every answer goes through {@link #reply} (or {@link #answer} from the
 * snapshot writer's thread), which tells the {@link RequestObserver} (metrics, the slow-request log) and queues the
 * response on the command's connection. Also builds the response header (revision, node, term).
 *
 * <p>Owned by the loop thread ({@code term}, {@code answered}); {@link #answer} and the observer may be used from any
 * thread.
 */
final class Replies {
  private final String nodeId;
  private final KvState state;
  private volatile RequestObserver observer = RequestObserver.NONE;
  /** Raft's term, read once per turn (asking Ratis per response is not free). */
  private long term;
  private long answered;

  Replies(String nodeId, KvState state) {
    this.nodeId = nodeId;
    this.state = state;
  }

  void observer(RequestObserver observer) {
    this.observer = observer;
  }

  RequestObserver observer() {
    return observer;
  }

  /** At the start of each turn: the term for this turn's headers. */
  void term(long term) {
    this.term = term;
  }

  long term() {
    return term;
  }

  /** Commands answered (or handed to a thread that answers them) since start. */
  long answered() {
    return answered;
  }

  /** Answers a command (loop thread). */
  void reply(Event.Command c, Response r) {
    answered++;
    answer(c, r);
  }

  /** Counts a command as answered by another thread from now on (a snapshot request). */
  void handedOff() {
    answered++;
  }

  /** Answers a command from any thread: tells the observer, then queues the response on its connection. */
  void answer(Event.Command c, Response r) {
    observer.answered(c.request(), r, c.trace());
    c.replier().reply(r);
  }

  void error(Event.Command c, Error.Code code, String message, String leaderAddress) {
    reply(c, error(c.request().getId(), code, message, leaderAddress));
  }

  Response.Builder respond(long id) {
    return Response.newBuilder().setId(id).setHeader(header());
  }

  Header header() {
    return header(state.revision());
  }

  /** This node's header, naming {@code revision} (a watch message's last revision). */
  Header header(long revision) {
    return Header.newBuilder().setRevision(revision).setNodeId(nodeId).setTerm(term).build();
  }

  /**
   * An error answer. {@code code} may be one this build does not know ({@code UNRECOGNIZED}: relayed from a leader
   * of a newer build), which cannot be set by name: it goes on as {@code INTERNAL}, the message saying what happened.
   */
  static Response error(long id, Error.Code code, String message, String leaderAddress) {
    var unknown = code == Error.Code.UNRECOGNIZED;
    return Response.newBuilder()
        .setId(id)
        .setError(Error.newBuilder().setCode(unknown ? Error.Code.INTERNAL : code)
            .setMessage(unknown ? message + " (an error code this node does not know)" : message)
            .setLeaderAddress(leaderAddress))
        .build();
  }
}
