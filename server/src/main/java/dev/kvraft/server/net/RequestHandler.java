package dev.kvraft.server.net;

import dev.kvraft.proto.Error;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import dev.kvraft.server.backup.BackupFiles;
import dev.kvraft.server.config.ServerConfig;
import dev.kvraft.server.db.CommandSink;
import dev.kvraft.server.db.RequestTrace;
import java.io.IOException;
import java.net.InetAddress;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What one {@link ClientConnection} does with each request its {@link FrameReader} has read and parsed: checks that the
 * connection may send it (forwarded and ReadIndex only from a member), validates it ({@link RequestValidator}), answers
 * what is answered on the connection's own thread (a member's MemberHello, Authenticate with its slow hash,
 * BackupChunk's disk read, every refusal), sets the user the request runs as (the connection's, never the one the
 * client wrote; a member's link keeps its follower's) and hashes a user change's password, then hands the request to
 * the database loop with its deadline and a {@link dev.kvraft.server.db.Replier} from the {@link Outbox}, through
 * which its answer and its watches' messages go. Every request gets exactly one answer, here or from the loop; with
 * it goes what the request's {@link FrameReader.Ticket} holds.
 *
 * <p>Who owns what: one per connection, made once its TLS handshake is done; everything here is the connection's
 * reader thread's ({@code kvraft-conn-N}): {@link #handle} runs only there, between two frames, so the connection's
 * identity ({@link #member}, {@link #user}, {@link #secret}, {@link #authFailures}) needs no lock. Not its own: the
 * {@link #ticket} (the reader's, which takes what it holds and gives back what this class does not hand on), the
 * {@link #outbox} (which any thread queues to), and the services it asks (the loop's queue, {@link ConnectionAuth}'s
 * hashing threads, {@link Members}, {@link BackupFiles}), which the listener's {@link ConnectionServices} names.
 */
final class RequestHandler {
  /** The connection's logger: these lines are the connection's, as they were before this was its own class. */
  private static final Logger LOG = LoggerFactory.getLogger(ClientConnection.class);
  private final String peer;
  /** The client's address: what {@link ConnectionAuth} counts failures and lockouts by. */
  private final InetAddress address;
  private final CommandSink loop;
  private final ServerConfig config;
  private final RequestValidator validator;
  private final Members members;
  /** Where BackupChunk reads from, or null. */
  private final BackupFiles backups;
  private final ConnectionAuth auth;
  private final Outbox outbox;
  /** The frame being handled's answer slot and request room, handed on here with its answer. */
  private final FrameReader.Ticket ticket;
  /** The names in the client's certificate (none without TLS or a certificate). */
  private final Set<String> certificateNames;
  /** Whether the other side proved it is a cluster member (may send forwarded and ReadIndex). */
  private boolean member;
  /**
   * A MemberHello refused only because this node had not applied the member token yet: checked again at the next
   * forwarded request, so that requests the member pipelined behind it are not refused PERMISSION_DENIED once the token
   * has come meanwhile (a new leader's first moments; found by CutOffWatchTest in CI). The connection's thread's.
   */
  private dev.kvraft.proto.MemberHello helloBeforeToken;
  /** The user this connection runs as ("" until it authenticates), and its failures. */
  private String user = "";
  private int authFailures;
  /**
   * The password hash {@link #user} authenticated against; null when the user came from the certificate (or none).
   * When the user's hash is no longer this one (its password changed, or it was deleted and perhaps added again), the
   * session ends, as etcd invalidates a user's tokens then.
   */
  private String secret;

  RequestHandler(String peer, InetAddress address, Set<String> certificateNames, ConnectionServices services,
      Outbox outbox, FrameReader.Ticket ticket) {
    this.peer = peer;
    this.address = address;
    this.certificateNames = certificateNames;
    this.loop = services.loop();
    this.config = services.config();
    this.validator = services.validator();
    this.members = services.members();
    this.backups = services.backups();
    this.auth = services.auth();
    this.member = members.isMember(certificateNames);
    this.outbox = outbox;
    this.ticket = ticket;
  }

  /**
   * Handles one request: answers it here or hands it to the database loop. False when the connection must read no
   * more requests (too many failed authentications): answers owed still go out, then it closes.
   */
  boolean handle(Request request) throws InterruptedException {
    var trace = RequestTrace.receivedNow(peer);
    long timeout = config.requestTimeout().toNanos();
    if (request.getTimeoutMs() > 0) {
      timeout = Math.min(timeout, TimeUnit.MILLISECONDS.toNanos(request.getTimeoutMs()));
    }
    long deadline = System.nanoTime() + timeout;
    ticket.slotToAnswer(); // this request's answer frees it
    if (request.hasMemberHello()) {
      memberHello(request, trace);
      return true;
    }
    boolean memberOnly = request.getForwarded() || request.hasReadIndex();
    if (!certificateNames.isEmpty()) {
      // With TLS, who is a member is the configuration now, asked at each request (a set lookup): a node being added
      // may have linked to this one (and kept the link) before the configuration named it, and one removed stays
      // linked. The flag also decides whose user a request runs as (below).
      member = members.isMember(certificateNames);
    }
    String notMember = null;
    if (memberOnly && !member && !certificateNames.isEmpty()) {
      // Why not, with the ids read once more, so the refusal's two lists agree (in after all if a change named it).
      var refused = members.certificate(certificateNames);
      member = refused.isEmpty();
      notMember = refused.orElse(null);
    }
    if (memberOnly && !member) {
      // Read once, so that the hello kept from before the token and the answer below agree on it.
      var ready = members.ready();
      if (ready && helloBeforeToken != null) {
        var refused = members.hello(helloBeforeToken);
        member = refused.isEmpty();
        if (!member) {
          LOG.warn("client {}: MemberHello as '{}', sent before this node had the member token, refused now that it"
              + " has it: {}", peer, helloBeforeToken.getNodeId(), refused.get());
        }
        helloBeforeToken = null;
      }
      if (!member) {
        // Before this node has the member token (a cluster's first moments) nobody can be told apart: retry.
        var what = request.hasReadIndex() ? "ReadIndex" : "forwarded";
        answer(request, Response.newBuilder().setId(request.getId()).setError(!ready
            ? Error.newBuilder().setCode(Error.Code.UNAVAILABLE)
                .setMessage("node " + config.nodeId() + " has not applied the cluster's member token yet; retry")
            : Error.newBuilder().setCode(Error.Code.PERMISSION_DENIED).setNotMember(true)
                .setMessage("node " + config.nodeId() + " accepts " + what + " requests only from cluster members ("
                    + (notMember != null ? notMember : members.describe()) + ")"
                    + (request.hasReadIndex() ? "" : "; send the request without 'forwarded'")))
            .build(), trace);
        return true;
      }
    }
    var invalid = validator.validate(request);
    if (invalid.isPresent()) {
      answer(request, Response.newBuilder().setId(request.getId()).setError(invalid.get()).build(), trace);
      return true;
    }
    if (request.hasBackupChunk()) {
      backupChunk(request, trace);
      return true;
    }
    if (request.hasAuthenticate()) {
      return authenticate(request, trace);
    }
    if (!member) {
      // A client's request runs as the connection's user, whatever the client wrote there; a member's carries the
      // user its follower authenticated.
      var runsAs = connectionUser();
      if (!request.getUser().equals(runsAs)) {
        request = request.toBuilder().setUser(runsAs).build();
      }
      if (request.hasAuthChange()) {
        try {
          request = auth.hashPassword(request, address);
        } catch (ConnectionAuth.Refused e) {
          answer(request, Response.newBuilder().setId(request.getId()).setError(Error.newBuilder()
              .setCode(e.code).setMessage(e.getMessage())).build(), trace);
          return true;
        }
      }
    }
    if (loop.submit(request, outbox.call(ticket.held()), deadline, trace)) {
      ticket.handOn(); // the loop's now: the answer gives the bytes back
    } else {
      answer(request, Response.newBuilder().setId(request.getId()).setError(Error.newBuilder()
          .setCode(Error.Code.OVERLOADED)
          .setMessage("node " + config.nodeId() + " has " + config.queueCapacity()
              + " requests queued (queue.capacity); back off and retry"))
          .build(), trace);
    }
    return true;
  }

  /** A member's link opening: on the right token the connection may send forwarded requests and ReadIndex. */
  private void memberHello(Request request, RequestTrace trace) {
    boolean ready = members.ready(); // before the check: a token applied in between must not make it a wrong one
    var refused = members.hello(request.getMemberHello());
    var response = Response.newBuilder().setId(request.getId());
    if (refused.isEmpty()) {
      member = true;
    } else {
      LOG.warn("client {}: MemberHello as '{}' refused: {}", peer, request.getMemberHello().getNodeId(),
          refused.get());
      helloBeforeToken = ready ? null : request.getMemberHello();
      response.setError(Error.newBuilder().setCode(ready ? Error.Code.PERMISSION_DENIED : Error.Code.UNAVAILABLE)
          .setMessage(refused.get()));
    }
    answer(request, response.build(), trace);
  }

  /**
   * A piece of a backup, read here on the connection's thread: the database loop never touches the disk for it.
   * At most one chunk (1 MiB) per request is in memory; the outbox bound applies to it like to any answer.
   */
  private void backupChunk(Request request, RequestTrace trace) {
    var response = Response.newBuilder().setId(request.getId());
    var b = request.getBackupChunk();
    var view = auth.view();
    if (backups == null) {
      response.setError(Error.newBuilder().setCode(Error.Code.UNAVAILABLE)
          .setMessage("node " + config.nodeId() + " makes no backups"));
    } else if (view.enabled() && !view.isRoot(connectionUser())) {
      // Backups are root's, like Backup itself (checked by the loop); the id alone is not enough once auth is on.
      // As the loop answers: no user, or one that does not exist (a certificate's name), is not authenticated.
      response.setError(Error.newBuilder().setCode(view.hasUser(connectionUser()) ? Error.Code.PERMISSION_DENIED
          : Error.Code.UNAUTHENTICATED).setMessage("reading a backup needs the root role"));
    } else {
      try {
        var chunk = backups.chunk(b.getBackupId(), b.getOffset());
        response.setBackupChunk(dev.kvraft.proto.BackupChunkResult.newBuilder()
            .setData(com.google.protobuf.UnsafeByteOperations.unsafeWrap(chunk.data())).setLast(chunk.last()));
      } catch (BackupFiles.Missing e) {
        response.setError(Error.newBuilder().setCode(Error.Code.INVALID_ARGUMENT).setMessage(e.getMessage()));
      } catch (IOException e) {
        LOG.error("client {}: reading backup {} failed: {}", peer, b.getBackupId(), e.toString());
        response.setError(Error.newBuilder().setCode(Error.Code.INTERNAL)
            .setMessage("node " + config.nodeId() + " could not read the backup: " + e.getMessage()));
      }
    }
    answer(request, response.build(), trace);
  }

  /** The user this connection runs as: its own, or the one its certificate names. */
  private String connectionUser() {
    if (secret != null && !secret.equals(auth.view().secrets().get(user))) {
      LOG.info("client {}: user '{}' was deleted or its password changed since this connection authenticated as it;"
          + " its requests run without a user until it authenticates again", peer, user);
      user = "";
      secret = null;
    }
    if (user.isEmpty() && !certificateNames.isEmpty()) {
      user = auth.fromCertificate(certificateNames).orElse("");
    }
    return user;
  }

  /**
   * Authenticate, checked here on the connection's thread (a slow hash on purpose, never on the loop). False when the
   * connection has failed too many times and must read no more.
   */
  private boolean authenticate(Request request, RequestTrace trace) throws InterruptedException {
    var outcome = auth.authenticate(request, address);
    outcome.user().ifPresent(u -> {
      user = u;
      secret = outcome.secret();
    });
    answer(request, outcome.response(), trace);
    if (outcome.user().isEmpty() && ++authFailures >= ConnectionAuth.FAILURES_PER_CONNECTION) {
      LOG.warn("client {}: {} failed authentications on one connection; closing it", peer, authFailures);
      return false;
    }
    return true;
  }

  /** Answers a request here, without the database loop: counted like the loop's answers. */
  private void answer(Request request, Response response, RequestTrace trace) {
    loop.requestObserver().answered(request, response, trace);
    outbox.reply(response, ticket.handOn());
  }
}
