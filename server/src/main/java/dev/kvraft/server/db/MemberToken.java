package dev.kvraft.server.db;

import com.google.protobuf.ByteString;
import dev.kvraft.proto.LogEntry;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The cluster's member token: 32 random bytes that only members know, so that with TLS off the leader can still tell
 * a member's forwarding link ({@code MemberHello}) from a client that sets {@code forwarded} (issue #16).
 *
 * <p>It lives in the replicated state, not in a file an operator must copy: the first leader that finds none
 * proposes one ({@link #proposeIfMissing}, a {@link LogEntry} with {@code member_token} and no ops); the first one
 * applied wins and later ones are ignored, so every node ends with the same token; snapshots carry it in their
 * {@code system} table (hex, under {@link #SNAPSHOT_NAME}). It is never shown to clients, in kvraft.db's log mirror
 * or in the logs. Anyone who can read a node's data directory can read it — as they can read the data itself.
 *
 * <p>Written by the database loop's thread only (apply, snapshot install, proposal); read by connection threads and
 * the leader link through a volatile reference.
 */
public final class MemberToken implements SystemState {
  private static final Logger LOG = LoggerFactory.getLogger(MemberToken.class);
  /** Its name in a snapshot's system table. */
  public static final String SNAPSHOT_NAME = "member_token";
  private static final int BYTES = 32;
  /** A proposal that was accepted but has not applied yet is proposed again only after this long. */
  private static final long RETRY_NANOS = TimeUnit.SECONDS.toNanos(2);
  /**
   * One that failed (typically: a new leader is not ready to take proposals until its first entry commits) is
   * proposed again after this: the followers cannot forward anything until the token is there.
   */
  private static final long FAILED_RETRY_NANOS = TimeUnit.MILLISECONDS.toNanos(50);

  private volatile ByteString current = ByteString.EMPTY;
  private final SecureRandom random = new SecureRandom();
  /** When this node may propose next ({@link System#nanoTime()}); written by the loop and by a failed proposal. */
  private volatile long nextAttempt = System.nanoTime();

  /** The token, once one has been applied here. */
  public Optional<ByteString> get() {
    var t = current;
    return t.isEmpty() ? Optional.empty() : Optional.of(t);
  }

  /** Whether {@code presented} is the token (in constant time); false while this node has none. */
  public boolean matches(ByteString presented) {
    var t = current;
    return !t.isEmpty() && MessageDigest.isEqual(t.toByteArray(), presented.toByteArray());
  }

  /** An applied entry carried a token: the first one wins. Loop thread. */
  void applied(ByteString token) {
    if (current.isEmpty() && token.size() == BYTES) {
      current = token;
      LOG.info("the cluster's member token is set (members authenticate their forwarding links with it when TLS is"
          + " off)");
    }
  }

  /** As a snapshot says: its system table's entry, or none. Loop thread. */
  @Override
  public void installed(Map<String, String> system) {
    var hex = system.get(SNAPSHOT_NAME);
    current = hex == null ? ByteString.EMPTY : ByteString.copyFrom(HexFormat.of().parseHex(hex));
  }

  /** For a snapshot's system table. Loop thread. */
  @Override
  public Map<String, String> forSnapshot() {
    var t = current;
    return t.isEmpty() ? Map.of() : Map.of(SNAPSHOT_NAME, HexFormat.of().formatHex(t.toByteArray()));
  }

  /**
   * On the leader, when no token has been applied: proposes one (again 50 ms after a failed proposal, two seconds
   * after one that was taken but has not applied). Loop thread.
   */
  void proposeIfMissing(Consensus raft, CallIds ids, String proposer) {
    if (!current.isEmpty() || !raft.isLeader()) {
      return;
    }
    long now = System.nanoTime();
    if (now - nextAttempt < 0) {
      return;
    }
    nextAttempt = now + RETRY_NANOS;
    var bytes = new byte[BYTES];
    random.nextBytes(bytes);
    var entry = LogEntry.newBuilder().setProposer(proposer).setProposalId(ids.next())
        .setMemberToken(ByteString.copyFrom(bytes)).build();
    raft.propose(entry.getProposalId(), entry.toByteString()).whenComplete((ok, err) -> {
      if (err != null) {
        nextAttempt = System.nanoTime() + FAILED_RETRY_NANOS;
        LOG.debug("proposing the member token failed ({}); the leader proposes again", err.toString());
      }
    });
  }
}
