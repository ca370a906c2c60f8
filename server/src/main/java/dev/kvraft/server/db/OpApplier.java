package dev.kvraft.server.db;

import dev.kvraft.proto.Response;
import dev.kvraft.proto.WriteOp;
import java.util.function.UnaryOperator;

/**
 * The apply of one committed operation, as layers around a pure step, like etcd's appliers ({@code applierV3}: a
 * backend applier wrapped by an auth applier and a quota applier). The innermost layer is {@link #of(KvState)}: the
 * operation applied to the map, nothing else. A feature that must see or refuse every operation on every node —
 * permission checks, a space quota's alarm, leases attached to keys, watch notifications — is a class implementing
 * this interface that wraps the next layer, added with {@link #wrap}; the apply step itself is never edited.
 *
 * <p>Layers run on the database loop's thread, in log order, and must be deterministic: every node applies the same
 * entries through the same layers and must reach the same state and answers.
 */
@FunctionalInterface
public interface OpApplier {
  /** Applies one operation; the listener sees each change (the SQLite mirror). Returns the answer, without id. */
  Response.Builder apply(WriteOp op, KvState.OpListener listener);

  /** The innermost layer: the operation applied to the map. */
  static OpApplier of(KvState state) {
    return state::apply;
  }

  /** This layer wrapped by an outer one (which gets this as the next layer to call). */
  default OpApplier wrap(UnaryOperator<OpApplier> outer) {
    return outer.apply(this);
  }
}
