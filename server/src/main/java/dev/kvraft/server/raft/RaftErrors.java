package dev.kvraft.server.raft;

import dev.kvraft.proto.Error;
import dev.kvraft.server.db.ConsensusException;
import java.io.IOException;
import org.apache.ratis.protocol.exceptions.AlreadyClosedException;
import org.apache.ratis.protocol.exceptions.LeaderNotReadyException;
import org.apache.ratis.protocol.exceptions.LeaderSteppingDownException;
import org.apache.ratis.protocol.exceptions.NotLeaderException;
import org.apache.ratis.protocol.exceptions.RaftException;
import org.apache.ratis.protocol.exceptions.ReadException;
import org.apache.ratis.protocol.exceptions.ReadIndexException;
import org.apache.ratis.protocol.exceptions.ResourceUnavailableException;
import org.apache.ratis.protocol.exceptions.ServerNotReadyException;

/**
 * What a Ratis failure means to a client of this node: each Ratis exception as the kvraft error code a client acts
 * on (UNAVAILABLE is retried, TIMEOUT's outcome is unknown, OVERLOADED asks it to back off, CONFLICT to look again),
 * with a message that names the node and says what to do. Immutable; any thread.
 */
record RaftErrors(String nodeId) {
  /** Turns a Ratis failure into a kvraft error a client can act on. */
  ConsensusException translate(Throwable t) {
    if (t == null) {
      return new ConsensusException(Error.Code.INTERNAL, "raft failed the request without saying why", "");
    }
    if (t instanceof ConsensusException already) {
      return already;
    }
    if (t instanceof NotLeaderException nle) {
      var leader = nle.getSuggestedLeader();
      var leaderId = leader == null ? "" : leader.getId().toString();
      return new ConsensusException(Error.Code.UNAVAILABLE, "node " + nodeId + " is not the leader"
          + (leaderId.isEmpty() ? " and knows no leader yet; retry shortly" : "; the leader is " + leaderId),
          leaderId);
    }
    if (t instanceof LeaderNotReadyException || t instanceof LeaderSteppingDownException
        || t instanceof ServerNotReadyException || t instanceof ReadIndexException || t instanceof ReadException) {
      return new ConsensusException(Error.Code.UNAVAILABLE,
          "node " + nodeId + " cannot serve this now (" + t.getMessage() + "); retry shortly", "");
    }
    if (t instanceof UnsupportedOperationException) {
      // A read-index round that reached Ratis after this node stopped leading: Ratis tries a follower read index,
      // which its Netty transport cannot do. Nothing was read; the database loop routes it again, to the leader.
      return new ConsensusException(Error.Code.UNAVAILABLE,
          "node " + nodeId + " stopped leading while serving a read; retry at the leader", "");
    }
    if (t instanceof AlreadyClosedException) {
      return new ConsensusException(Error.Code.UNAVAILABLE, "node " + nodeId + " is shutting down", "");
    }
    if (t instanceof org.apache.ratis.protocol.exceptions.ReconfigurationInProgressException) {
      return new ConsensusException(Error.Code.CONFLICT, "another membership change is in progress; retry once it"
          + " is done", "");
    }
    if (t instanceof org.apache.ratis.protocol.exceptions.SetConfigurationException) {
      return new ConsensusException(Error.Code.CONFLICT, "the membership changed meanwhile, or the change is not"
          + " allowed (" + t.getMessage() + "); look at 'member list' and retry", "");
    }
    if (t instanceof org.apache.ratis.protocol.exceptions.ReconfigurationTimeoutException) {
      // Ratis gave up staging the new node. TIMEOUT, not UNAVAILABLE: clients do not resend it by themselves, which
      // would only try the same again.
      return new ConsensusException(Error.Code.TIMEOUT, "the membership change did not finish in time (is the"
          + " new node running with --join, and reachable at its peer address?); the configuration is unchanged", "");
    }
    if (t instanceof java.util.concurrent.TimeoutException) {
      return new ConsensusException(Error.Code.TIMEOUT, "raft on node " + nodeId + " did not answer in"
          + " time; the outcome is unknown", "");
    }
    if (t instanceof ResourceUnavailableException) {
      return new ConsensusException(Error.Code.OVERLOADED,
          "raft on node " + nodeId + " has too many pending writes; back off and retry", "");
    }
    if (t instanceof RaftException || t instanceof IOException) {
      return new ConsensusException(Error.Code.UNAVAILABLE, "raft on node " + nodeId + ": " + t, "");
    }
    return new ConsensusException(Error.Code.INTERNAL, "raft on node " + nodeId + " failed: " + t, "");
  }
}
