package dev.kvraft.server.raft;

import com.google.protobuf.UnsafeByteOperations;
import dev.kvraft.server.db.DatabaseLoop;
import java.io.IOException;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.ratis.proto.RaftProtos.RaftConfigurationProto;
import org.apache.ratis.protocol.ClientId;
import org.apache.ratis.protocol.Message;
import org.apache.ratis.protocol.RaftGroupId;
import org.apache.ratis.protocol.RaftGroupMemberId;
import org.apache.ratis.protocol.RaftPeerId;
import org.apache.ratis.server.RaftServer;
import org.apache.ratis.server.storage.RaftStorage;
import org.apache.ratis.statemachine.TransactionContext;
import org.apache.ratis.statemachine.impl.BaseStateMachine;
import org.apache.ratis.statemachine.impl.SimpleStateMachineStorage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The thin bridge between Ratis and the database loop; it holds no key-value state of its own.
 *
 * <ul>
 *   <li>{@link #applyTransaction} (Ratis's single updater thread, strict log order) hands the entry to the database
 *       loop and returns a future the loop completes once it applied the entry. Puts, Deletes and Txns all arrive
 *       here, packed many to an entry.
 *   <li>Configuration and metadata entries arrive through {@link #notifyConfigurationChanged} and
 *       {@link #notifyTermIndexUpdated}; they too go through the loop, so the last applied index only ever moves in
 *       log order.
 *   <li>{@link #query} is the end of a linearizable read barrier: Ratis calls it once its applied index passed the
 *       read index, so it has nothing left to do (the loop answers the reads when the barrier's reply reaches it).
 *   <li>{@link #preAppendTransaction} remembers which of this node's proposals reached the log, so that a proposal
 *       failed by a leader change is reported as "outcome unknown", not as "not applied".
 * </ul>
 *
 * <p>Thread-safety: Ratis calls this from its own threads; the only mutable state here is the concurrent set of
 * appended call ids and the configuration waiting for its index, both safe for that.
 */
final class KvStateMachine extends BaseStateMachine {
  private static final Logger LOG = LoggerFactory.getLogger(KvStateMachine.class);
  private final DatabaseLoop loop;
  private final ClientId clientId;
  private final SimpleStateMachineStorage storage = new SimpleStateMachineStorage();
  private final Set<Long> appended = ConcurrentHashMap.newKeySet();
  private volatile PendingConf pendingConf;

  private record PendingConf(long index, String summary) {}

  KvStateMachine(DatabaseLoop loop, ClientId clientId) {
    this.loop = loop;
    this.clientId = clientId;
  }

  @Override
  public void initialize(RaftServer server, RaftGroupId groupId, RaftStorage raftStorage) throws IOException {
    super.initialize(server, groupId, raftStorage);
    storage.init(raftStorage);
  }

  @Override
  public SimpleStateMachineStorage getStateMachineStorage() {
    return storage;
  }

  @Override
  public TransactionContext preAppendTransaction(TransactionContext trx) throws IOException {
    var request = trx.getClientRequest();
    if (request != null && request.getClientId().equals(clientId)) {
      appended.add(request.getCallId());
    }
    return trx;
  }

  boolean wasAppended(long callId) {
    return appended.contains(callId);
  }

  void forget(long callId) {
    appended.remove(callId);
  }

  @Override
  public CompletableFuture<Message> applyTransaction(TransactionContext trx) {
    var entry = trx.getLogEntry();
    long term = entry.getTerm();
    long index = entry.getIndex();
    var data = entry.getStateMachineLogEntry().getLogData();
    var payload = UnsafeByteOperations.unsafeWrap(data.asReadOnlyByteBuffer());
    return loop.applied(term, index, payload).thenApply(v -> {
      updateLastAppliedTermIndex(term, index);
      return Message.EMPTY;
    });
  }

  @Override
  public void notifyConfigurationChanged(long term, long index, RaftConfigurationProto conf) {
    var peers = new StringBuilder("peers");
    conf.getPeersList().forEach(p -> peers.append(' ').append(p.getId().toStringUtf8()).append('@')
        .append(p.getAddress()));
    pendingConf = new PendingConf(index, peers.toString());
  }

  @Override
  public void notifyTermIndexUpdated(long term, long index) {
    var conf = pendingConf;
    boolean isConf = conf != null && conf.index() == index;
    loop.metaApplied(term, index, isConf ? "configuration" : "metadata", isConf ? conf.summary() : "")
        .thenRun(() -> updateLastAppliedTermIndex(term, index));
  }

  @Override
  public void notifyLeaderChanged(RaftGroupMemberId groupMemberId, RaftPeerId newLeaderId) {
    LOG.info("node {} sees a new leader: {}", groupMemberId.getPeerId(),
        newLeaderId == null ? "none (election under way)" : newLeaderId);
  }

  @Override
  public CompletableFuture<Message> query(Message request) {
    return CompletableFuture.completedFuture(Message.EMPTY);
  }
}
