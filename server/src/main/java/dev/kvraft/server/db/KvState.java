package dev.kvraft.server.db;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import dev.kvraft.proto.Compare;
import dev.kvraft.proto.DeleteResult;
import dev.kvraft.proto.GetResult;
import dev.kvraft.proto.KeyValue;
import dev.kvraft.proto.Op;
import dev.kvraft.proto.OpResult;
import dev.kvraft.proto.PutResult;
import dev.kvraft.proto.Response;
import dev.kvraft.proto.Scan;
import dev.kvraft.proto.ScanResult;
import dev.kvraft.proto.Txn;
import dev.kvraft.proto.TxnResult;
import dev.kvraft.proto.WriteOp;
import dev.kvraft.storage.OpKind;
import dev.kvraft.storage.OpOutcome;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * The key-value state: one {@link Entry} per key and the store revision, with the deterministic apply step.
 *
 * <p>Each key has one {@link Slot}, held by two maps: a hash map for the point operations (gets, puts, deletes and
 * compares of one key) and a sorted map for scans and ranges. Overwriting a key only swaps its slot's value, so the
 * sorted map changes only when a key is created or deleted: walking a {@code TreeMap} of 100,000 keys on every put
 * (about 17 levels of cache misses) was most of the database loop's CPU.
 *
 * <p>Every node applies the same log in the same order and so holds the same map and revision. Each successful
 * mutation (a Put; a Delete that deleted something; a Txn whose chosen branch wrote something) raises the revision
 * by one; a Txn's writes all share that one revision, as in etcd.
 *
 * <p>Values are kept as plain arrays in an immutable {@link Entry}, not as protobuf {@link KeyValue}s: a put leaves
 * two objects that live until the key is next written (the entry and its value) instead of five, which is less for
 * every young collection to copy and about 100 bytes less per key. Reads build their {@code KeyValue}s on the way
 * out, without copying the arrays.
 *
 * <p>Not thread-safe: owned by the database loop thread. {@link Entry}s are immutable, so a snapshot may hold a list
 * of the current ones ({@link #copy}) while the loop goes on applying.
 */
public final class KvState {

  /** Unsigned lexicographic byte order: the order of scans. */
  public static final Comparator<ByteString> KEY_ORDER = ByteString.unsignedLexicographicalComparator();

  /** A {@code range_end} of one zero byte means "to the end of the key space", as in etcd. */
  public static final ByteString TO_END = ByteString.copyFrom(new byte[] {0});

  /** Told of every operation applied, for the SQLite log mirror. */
  @FunctionalInterface
  public interface OpListener {
    OpListener NONE = (op, key, value, revision, result) -> {};

    void applied(OpKind op, ByteString key, ByteString value, long revision, OpOutcome result);

    /**
     * A key changed at {@code revision}: {@code now} is its new entry (null when deleted), {@code prev} its entry
     * before (null when created). Called just before the {@link #applied} of the same operation (a range delete:
     * once per key deleted), for watches and the mirror's create revision and version.
     */
    default void changed(Entry prev, Entry now, long revision) {}
  }

  /**
   * A map key: the key's bytes, compared unsigned with the vectorised {@link Arrays#compareUnsigned} — protobuf's
   * own comparator walks a byte iterator and was the hottest spot of the database loop.
   */
  private record Key(byte[] bytes) implements Comparable<Key> {
    static Key of(ByteString s) {
      return new Key(s.toByteArray());
    }

    @Override
    public int compareTo(Key o) {
      return Arrays.compareUnsigned(bytes, o.bytes);
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof Key k && Arrays.equals(bytes, k.bytes);
    }

    @Override
    public int hashCode() {
      return Arrays.hashCode(bytes);
    }
  }

  /**
   * One key's value with its revisions. Immutable by contract: nobody writes into the arrays after construction (the
   * key's array is the map key's own, shared by all of the key's entries).
   */
  public record Entry(byte[] key, byte[] value, long createRevision, long modRevision, long version) {
    /** The protocol's form, wrapping (not copying) the arrays. */
    public KeyValue toKeyValue() {
      return keyAndRevisions().setValue(UnsafeByteOperations.unsafeWrap(value)).build();
    }

    /** The protocol's form without the value, for keys-only scans. */
    KeyValue withoutValue() {
      return keyAndRevisions().build();
    }

    private KeyValue.Builder keyAndRevisions() {
      return KeyValue.newBuilder().setKey(UnsafeByteOperations.unsafeWrap(key)).setCreateRevision(createRevision)
          .setModRevision(modRevision).setVersion(version);
    }
  }

  /** One key's current entry; shared by both maps, so an overwrite touches neither. */
  private static final class Slot {
    Entry entry;

    Slot(Entry entry) {
      this.entry = entry;
    }
  }

  private HashMap<Key, Slot> byKey = new HashMap<>();
  private TreeMap<Key, Slot> sorted = new TreeMap<>();
  private long revision;
  /**
   * Bytes of key-values after which a scan answer, or the deleted key-values in one write's answer, stop (the
   * key-value that reaches it is the last).
   */
  private final int answerBytes;
  /** What is left of {@link #answerBytes} for the answer of the write being applied (a txn's deletes share it). */
  private long answerRoom;

  public KvState() {
    this(dev.kvraft.server.config.Limits.DEFAULT.maxAnswerBytes());
  }

  /**
   * @param answerBytes {@code limit.answer.bytes}: past it a scan says {@code more}, a delete {@code prev_truncated},
   *     and in a txn a get {@code truncated}, a put {@code prev_truncated}
   */
  public KvState(int answerBytes) {
    if (answerBytes <= 0) {
      throw new IllegalArgumentException("answerBytes must be positive, got " + answerBytes);
    }
    this.answerBytes = answerBytes;
  }

  public long revision() {
    return revision;
  }

  public int size() {
    return byKey.size();
  }

  /** Replaces the whole state with these entries. */
  public void reset(long newRevision, Iterable<Entry> entries) {
    var loader = new Loader();
    entries.forEach(loader::add);
    reset(newRevision, loader.build());
  }

  /** Replaces the whole state with maps a {@link Loader} built (a snapshot's, read on other threads). */
  public void reset(long newRevision, Contents contents) {
    byKey = contents.byKey;
    sorted = contents.sorted;
    revision = newRevision;
  }

  /** A whole state's maps, built by a {@link Loader} and not touched again until a {@link #reset} takes them. */
  public static final class Contents {
    private final HashMap<Key, Slot> byKey;
    private final TreeMap<Key, Slot> sorted;

    private Contents(HashMap<Key, Slot> byKey, TreeMap<Key, Slot> sorted) {
      this.byKey = byKey;
      this.sorted = sorted;
    }

    public int size() {
      return byKey.size();
    }
  }

  /**
   * Builds a state's maps entry by entry, off the database loop: a snapshot's million rows are turned into maps
   * while they are still being read. Entries in strictly increasing key order (a snapshot's are) make the sorted
   * map in one linear pass, without a comparison, instead of a million tree inserts; others are inserted.
   *
   * <p>Confined to one thread at a time (the one calling {@link #add} and then {@link #build}).
   */
  public static final class Loader {
    private final List<Map.Entry<Key, Slot>> slots = new ArrayList<>();
    private final HashMap<Key, Slot> byKey = new HashMap<>();
    private boolean ascending = true;
    private Key previous;

    public void add(Entry e) {
      var key = new Key(e.key());
      ascending &= previous == null || previous.compareTo(key) < 0;
      var slot = new Slot(e);
      slots.add(Map.entry(key, slot));
      byKey.put(key, slot);
      previous = key;
    }

    public Contents build() {
      var sorted = new TreeMap<Key, Slot>();
      if (ascending) {
        sorted.putAll(new InOrder(slots));
        return new Contents(byKey, sorted);
      }
      // Not in order, usually a few sorted runs: a snapshot file lists its text keys, then its binary ones, each in
      // byte order. The list's stable merge sort joins runs in linear time, then the one-pass build as above.
      slots.sort(Map.Entry.comparingByKey());
      var unique = new ArrayList<Map.Entry<Key, Slot>>(slots.size());
      for (var slot : slots) {
        if (!unique.isEmpty() && unique.getLast().getKey().compareTo(slot.getKey()) == 0) {
          unique.set(unique.size() - 1, slot); // a key given twice: the last entry wins, as in byKey
        } else {
          unique.add(slot);
        }
      }
      sorted.putAll(new InOrder(unique));
      return new Contents(byKey, sorted);
    }
  }

  /**
   * Entries already in key order, seen as a {@link SortedMap} only so that {@link TreeMap#putAll} builds from them
   * in linear time; it reads {@code size}, {@code comparator} and the entries' iterator, nothing else.
   */
  private static final class InOrder extends java.util.AbstractMap<Key, Slot> implements SortedMap<Key, Slot> {
    private final List<Map.Entry<Key, Slot>> slots;

    InOrder(List<Map.Entry<Key, Slot>> slots) {
      this.slots = slots;
    }

    @Override
    public Set<Map.Entry<Key, Slot>> entrySet() {
      return new java.util.AbstractSet<>() {
        @Override
        public java.util.Iterator<Map.Entry<Key, Slot>> iterator() {
          return slots.iterator();
        }

        @Override
        public int size() {
          return slots.size();
        }
      };
    }

    @Override
    public java.util.Comparator<? super Key> comparator() {
      return null; // the keys' natural order, as the store's TreeMap
    }

    @Override
    public SortedMap<Key, Slot> subMap(Key from, Key to) {
      throw new UnsupportedOperationException();
    }

    @Override
    public SortedMap<Key, Slot> headMap(Key to) {
      throw new UnsupportedOperationException();
    }

    @Override
    public SortedMap<Key, Slot> tailMap(Key from) {
      throw new UnsupportedOperationException();
    }

    @Override
    public Key firstKey() {
      return slots.getFirst().getKey();
    }

    @Override
    public Key lastKey() {
      return slots.getLast().getKey();
    }
  }

  /** A point-in-time copy of every entry in key order, cheap because entries are immutable. */
  public List<Entry> copy() {
    var copy = new ArrayList<Entry>(sorted.size());
    for (var slot : sorted.values()) {
      copy.add(slot.entry);
    }
    return copy;
  }

  public KeyValue get(ByteString key) {
    var e = entryOf(Key.of(key));
    return e == null ? null : e.toKeyValue();
  }

  private Entry entryOf(Key key) {
    var slot = byKey.get(key);
    return slot == null ? null : slot.entry;
  }

  public ScanResult scan(Scan scan, int maxLimit) {
    int limit = scan.getLimit() == 0 ? maxLimit : Math.min(scan.getLimit(), maxLimit);
    var range = range(scan.getStart(), scan.getEnd());
    var result = ScanResult.newBuilder();
    int n = 0;
    long bytes = 0;
    for (var slot : range.values()) {
      var e = slot.entry;
      if (n == limit || (n > 0 && bytes >= answerBytes)) {
        result.setMore(true);
        break;
      }
      result.addKvs(scan.getKeysOnly() ? e.withoutValue() : e.toKeyValue());
      bytes += e.key().length + (scan.getKeysOnly() ? 0 : e.value().length);
      n++;
    }
    return result.build();
  }

  private NavigableMap<Key, Slot> range(ByteString start, ByteString end) {
    if (end.isEmpty() || end.equals(TO_END)) {
      return start.isEmpty() ? sorted : sorted.tailMap(Key.of(start), true);
    }
    if (KEY_ORDER.compare(start, end) >= 0) {
      return new TreeMap<>();
    }
    return sorted.subMap(Key.of(start), true, Key.of(end), false);
  }

  /**
   * Applies one client write and returns the response it earns: {@code put}, {@code delete} or {@code txn} set, no
   * id and no header. An op it cannot apply (no operation; a txn compare with an unknown target or operator; a txn
   * op with no operation) changes nothing and earns an {@code INVALID_ARGUMENT} error.
   */
  public Response.Builder apply(WriteOp op, OpListener listener) {
    answerRoom = answerBytes;
    var response = Response.newBuilder();
    var malformed = malformed(op);
    if (malformed != null) {
      // Only an entry that did not come through RequestValidator gets here. Throwing would stop every node on the
      // same entry, and a txn's earlier ops would already be applied: a no-op, the same on every node, instead.
      return response.setError(dev.kvraft.proto.Error.newBuilder()
          .setCode(dev.kvraft.proto.Error.Code.INVALID_ARGUMENT).setMessage(malformed + "; applied as a no-op"));
    }
    switch (op.getOpCase()) {
      case PUT -> {
        long rev = revision + 1;
        response.setPut(put(op.getPut(), rev, listener));
        revision = rev;
      }
      case DELETE -> {
        long rev = revision + 1;
        var r = delete(op.getDelete(), rev, listener);
        if (r.getDeleted() > 0) {
          revision = rev;
        }
        response.setDelete(r);
      }
      case TXN -> response.setTxn(txn(op.getTxn(), listener));
      case OP_NOT_SET -> throw new IllegalArgumentException("write op with no operation");
    }
    return response;
  }

  /**
   * Why {@link #apply} cannot apply an op (something {@code RequestValidator} refuses), or null. A layer that looks
   * into an op before the map does (its txn's compares, {@link #holds}) asks this first, and leaves a malformed op to
   * the map's no-op.
   */
  static String malformed(WriteOp op) {
    if (op.getOpCase() == WriteOp.OpCase.OP_NOT_SET) {
      return "write op names no operation";
    }
    if (op.getOpCase() != WriteOp.OpCase.TXN) {
      return null;
    }
    for (var c : op.getTxn().getCompareList()) {
      if (c.getTarget() == Compare.Target.UNRECOGNIZED || c.getOperator() == Compare.Operator.UNRECOGNIZED) {
        return "txn compare has an unknown target or operator";
      }
    }
    for (var branch : List.of(op.getTxn().getSuccessList(), op.getTxn().getFailureList())) {
      for (var o : branch) {
        if (o.getOpCase() == Op.OpCase.OP_NOT_SET) {
          return "txn op names no operation";
        }
      }
    }
    return null;
  }

  private PutResult put(dev.kvraft.proto.Put put, long rev, OpListener listener) {
    var key = Key.of(put.getKey());
    var slot = byKey.get(key);
    var prev = slot == null ? null : slot.entry;
    var value = put.getValue().toByteArray();
    if (slot == null) {
      slot = new Slot(new Entry(key.bytes(), value, rev, rev, 1));
      byKey.put(key, slot);
      sorted.put(key, slot);
    } else {
      slot.entry = new Entry(prev.key(), value, prev.createRevision(), rev, prev.version() + 1);
    }
    listener.changed(prev, slot.entry, rev);
    listener.applied(OpKind.PUT, put.getKey(), put.getValue(), rev, prev == null ? OpOutcome.CREATED : OpOutcome.UPDATED);
    var r = PutResult.newBuilder();
    if (put.getPrevKv() && prev != null) {
      if (takeAnswerRoom(prev)) {
        r.setPrev(prev.toKeyValue());
      } else {
        r.setPrevTruncated(true);
      }
    }
    return r.build();
  }

  private DeleteResult delete(dev.kvraft.proto.Delete del, long rev, OpListener listener) {
    var r = DeleteResult.newBuilder();
    if (del.getRangeEnd().isEmpty()) {
      var key = Key.of(del.getKey());
      var slot = byKey.remove(key);
      if (slot != null) {
        sorted.remove(key);
      }
      var prev = slot == null ? null : slot.entry;
      if (prev != null) {
        listener.changed(prev, null, rev);
      }
      listener.applied(OpKind.DELETE, del.getKey(), null, prev == null ? 0 : rev,
          prev == null ? OpOutcome.NOT_FOUND : OpOutcome.DELETED);
      if (prev != null) {
        r.setDeleted(1);
        if (del.getPrevKv()) {
          addPrev(r, prev);
        }
      }
      return r.build();
    }
    var range = range(del.getKey(), del.getRangeEnd());
    long n = 0;
    for (Iterator<Map.Entry<Key, Slot>> it = range.entrySet().iterator(); it.hasNext(); ) {
      var e = it.next();
      // Read before remove(): TreeMap may move the next entry's key and value into a removed entry.
      var key = e.getKey();
      var prev = e.getValue().entry;
      it.remove();
      byKey.remove(key);
      n++;
      listener.changed(prev, null, rev);
      listener.applied(OpKind.DELETE, UnsafeByteOperations.unsafeWrap(prev.key()), null, rev, OpOutcome.DELETED);
      if (del.getPrevKv()) {
        addPrev(r, prev);
      }
    }
    if (n == 0) {
      listener.applied(OpKind.DELETE_RANGE, del.getKey(), null, 0, OpOutcome.NOT_FOUND);
    }
    return r.setDeleted(n).build();
  }

  /**
   * A deleted key-value for the answer, until the answer (every delete of one txn together) reaches
   * {@link #answerBytes}: the first always comes, the one that reaches the bound is the last.
   */
  private void addPrev(DeleteResult.Builder r, Entry prev) {
    if (takeAnswerRoom(prev)) {
      r.addPrev(prev.toKeyValue());
    } else {
      r.setPrevTruncated(true);
    }
  }

  /**
   * Whether the answer of the write being applied (a txn's gets, puts' and deletes' previous key-values together)
   * may hold {@code e}: until it reaches {@link #answerBytes}, the first always, the one that reaches it the last.
   */
  private boolean takeAnswerRoom(Entry e) {
    if (answerRoom <= 0) {
      return false;
    }
    // With what a KeyValue adds (its revisions, version and tags): many tiny keys must not pass the bound many times.
    answerRoom -= e.key().length + e.value().length + KEY_VALUE_OVERHEAD;
    return true;
  }

  /** Bytes counted for a KeyValue in a write's answer besides its key and value: about its three varints and tags. */
  static final int KEY_VALUE_OVERHEAD = 40;

  private TxnResult txn(Txn txn, OpListener listener) {
    boolean ok = true;
    for (var c : txn.getCompareList()) {
      if (!holds(c)) {
        ok = false;
        break;
      }
    }
    var ops = ok ? txn.getSuccessList() : txn.getFailureList();
    listener.applied(OpKind.TXN, ByteString.EMPTY, null, 0, ok ? OpOutcome.COMPARE_SUCCEEDED : OpOutcome.COMPARE_FAILED);
    long rev = revision + 1;
    boolean wrote = false;
    var results = new ArrayList<OpResult>(ops.size());
    for (Op op : ops) {
      switch (op.getOpCase()) {
        case PUT -> {
          results.add(OpResult.newBuilder().setPut(put(op.getPut(), rev, listener)).build());
          wrote = true;
        }
        case DELETE -> {
          var d = delete(op.getDelete(), rev, listener);
          wrote |= d.getDeleted() > 0;
          results.add(OpResult.newBuilder().setDelete(d).build());
        }
        case GET -> {
          var e = entryOf(Key.of(op.getGet().getKey()));
          var g = GetResult.newBuilder();
          if (e != null && takeAnswerRoom(e)) {
            g.setKv(e.toKeyValue());
          } else if (e != null) {
            g.setTruncated(true);
          }
          results.add(OpResult.newBuilder().setGet(g).build());
        }
        case OP_NOT_SET -> throw new IllegalArgumentException("txn op with no operation");
      }
    }
    if (wrote) {
      revision = rev;
    }
    return TxnResult.newBuilder().setSucceeded(ok).addAllResults(results).build();
  }

  /** Evaluates one compare against the current state; see {@link Compare} for a missing key's values. */
  boolean holds(Compare c) {
    var e = entryOf(Key.of(c.getKey()));
    int cmp;
    switch (c.getTarget()) {
      case VALUE -> {
        if (e == null) {
          return false;
        }
        cmp = Arrays.compareUnsigned(e.value(), c.getValue().toByteArray());
      }
      case VERSION -> cmp = Long.compareUnsigned(e == null ? 0 : e.version(), c.getVersion());
      case CREATE_REVISION ->
          cmp = Long.compareUnsigned(e == null ? 0 : e.createRevision(), c.getCreateRevision());
      case MOD_REVISION -> cmp = Long.compareUnsigned(e == null ? 0 : e.modRevision(), c.getModRevision());
      default -> throw new IllegalArgumentException("unknown compare target " + c.getTarget());
    }
    return switch (c.getOperator()) {
      case EQUAL -> cmp == 0;
      case NOT_EQUAL -> cmp != 0;
      case LESS -> cmp < 0;
      case GREATER -> cmp > 0;
      default -> throw new IllegalArgumentException("unknown compare operator " + c.getOperator());
    };
  }
}
