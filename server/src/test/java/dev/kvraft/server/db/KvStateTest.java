package dev.kvraft.server.db;

import static dev.kvraft.server.testing.Requests.b;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.kvraft.proto.Compare;
import dev.kvraft.proto.Delete;
import dev.kvraft.proto.Get;
import dev.kvraft.proto.Op;
import dev.kvraft.proto.Put;
import dev.kvraft.proto.Scan;
import dev.kvraft.proto.Txn;
import dev.kvraft.proto.WriteOp;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class KvStateTest {
  private final KvState state = new KvState();

  private void put(String k, String v) {
    state.apply(WriteOp.newBuilder().setPut(Put.newBuilder().setKey(b(k)).setValue(b(v))).build(),
        KvState.OpListener.NONE);
  }

  private long delete(String k, String end) {
    return state.apply(WriteOp.newBuilder().setDelete(Delete.newBuilder().setKey(b(k)).setRangeEnd(b(end))).build(),
        KvState.OpListener.NONE).getDelete().getDeleted();
  }

  private static KvState.Entry entry(String k, String v, long rev) {
    return new KvState.Entry(k.getBytes(StandardCharsets.UTF_8), v.getBytes(StandardCharsets.UTF_8), rev, rev, 1);
  }

  private List<String> keys() {
    return state.scan(Scan.newBuilder().setStart(b("")).setEnd(b("\0")).build(), 1000).getKvsList().stream()
        .map(kv -> kv.getKey().toStringUtf8()).toList();
  }

  /** A snapshot's entries come in key order (the sorted map is then built in one pass); others must work too. */
  @ParameterizedTest
  @CsvSource({"a b c d", "c a d b", "a b b c", "c d a b", "b a b c a"})
  void resetToAnySetOfEntriesThenWritesAndScansWork(String order) {
    put("old", "x"); // replaced by the reset
    var entries = new ArrayList<KvState.Entry>();
    long rev = 0;
    for (var k : order.split(" ")) {
      entries.add(entry(k, "v" + k, ++rev));
    }
    state.reset(10, entries);
    var expected = order.split(" ");
    java.util.Arrays.sort(expected);
    assertEquals(java.util.Arrays.stream(expected).distinct().toList(), keys());
    assertEquals(10, state.revision());
    assertNull(state.get(b("old")));
    put("bb", "1");
    assertEquals(1, delete("a", ""));
    assertEquals(b("1"), state.get(b("bb")).getValue());
    assertEquals(b("vc"), state.get(b("c")).getValue());
    var after = new ArrayList<>(java.util.Arrays.stream(expected).distinct().toList());
    after.remove("a");
    after.add("bb");
    after.sort(null);
    assertEquals(after, keys());
  }

  @Test
  void aKeyGivenTwiceToAResetKeepsItsLastEntryInScansAndGets() {
    state.reset(5, List.of(entry("b", "first", 1), entry("a", "x", 2), entry("b", "last", 3)));
    assertEquals(List.of("a", "b"), keys());
    assertEquals(b("last"), state.get(b("b")).getValue());
    var scanned = state.scan(Scan.newBuilder().setStart(b("b")).setEnd(b("c")).build(), 10).getKvs(0);
    assertEquals(b("last"), scanned.getValue(), "the sorted map holds the same entry as the hash map");
  }

  @Test
  void putTracksRevisionsLikeEtcd() {
    put("a", "1");
    put("b", "1");
    put("a", "2");
    var a = state.get(b("a"));
    assertEquals(3, state.revision());
    assertEquals(1, a.getCreateRevision());
    assertEquals(3, a.getModRevision());
    assertEquals(2, a.getVersion());
    assertEquals(b("2"), a.getValue());
    var bkv = state.get(b("b"));
    assertEquals(2, bkv.getCreateRevision());
    assertEquals(1, bkv.getVersion());
  }

  @Test
  void deleteThenPutStartsANewLife() {
    put("a", "1");
    put("a", "2");
    assertEquals(1, delete("a", ""));
    assertEquals(3, state.revision());
    put("a", "3");
    var a = state.get(b("a"));
    assertEquals(4, a.getCreateRevision());
    assertEquals(1, a.getVersion());
  }

  @Test
  void deletingNothingKeepsTheRevision() {
    put("a", "1");
    assertEquals(0, delete("zzz", ""));
    assertEquals(0, delete("b", "c"));
    assertEquals(1, state.revision());
  }

  @Test
  void rangeDeleteIsHalfOpenAndOneRevision() {
    for (var k : List.of("a", "b", "ba", "c", "d")) {
      put(k, "v");
    }
    assertEquals(3, delete("b", "d"));
    assertEquals(6, state.revision());
    assertNull(state.get(b("b")));
    assertNull(state.get(b("ba")));
    assertNull(state.get(b("c")));
    assertEquals(2, state.size());
    assertEquals(2, delete("a", "\0"), "a range end of one zero byte means: to the end of the key space");
  }

  @Test
  void rangeDeleteReportsEachDeletedKeyWithItsOwnValue() {
    var keys = new ArrayList<String>();
    for (int i = 0; i < 20; i++) {
      keys.add("k" + (char) ('a' + i));
      put(keys.getLast(), "value of " + keys.getLast());
    }
    var seen = new ArrayList<String>();
    KvState.OpListener l = (op, key, value, rev, result) -> seen.add(key.toStringUtf8());
    var deleted = state.apply(WriteOp.newBuilder().setDelete(Delete.newBuilder().setKey(b("kb")).setRangeEnd(b("ks"))
        .setPrevKv(true)).build(), l).getDelete();
    var expected = keys.subList(1, 18);
    assertEquals(expected, seen, "the log mirror is told each deleted key once");
    assertEquals(expected, deleted.getPrevList().stream().map(kv -> kv.getKey().toStringUtf8()).toList());
    assertEquals(expected.stream().map(k -> "value of " + k).toList(),
        deleted.getPrevList().stream().map(kv -> kv.getValue().toStringUtf8()).toList(), "prev_kv: the deleted values");
  }

  @Test
  void rangeDeleteToTheEnd() {
    for (var k : List.of("a", "b", "c")) {
      put(k, "v");
    }
    assertEquals(2, state.apply(WriteOp.newBuilder().setDelete(Delete.newBuilder().setKey(b("b"))
        .setRangeEnd(KvState.TO_END)).build(), KvState.OpListener.NONE).getDelete().getDeleted());
    assertEquals(1, state.size());
  }

  @Test
  void scanHonoursRangeLimitAndKeysOnly() {
    for (var k : List.of("a", "b1", "b2", "b3", "c")) {
      put(k, "value-" + k);
    }
    var r = state.scan(Scan.newBuilder().setStart(b("b")).setEnd(b("c")).setLimit(2).build(), 100);
    assertEquals(List.of(b("b1"), b("b2")), r.getKvsList().stream().map(kv -> kv.getKey()).toList());
    assertTrue(r.getMore());
    var all = state.scan(Scan.newBuilder().setKeysOnly(true).build(), 100);
    assertEquals(5, all.getKvsCount());
    assertFalse(all.getMore());
    assertEquals(ByteString.EMPTY, all.getKvs(0).getValue());
    var capped = state.scan(Scan.getDefaultInstance(), 3);
    assertEquals(3, capped.getKvsCount(), "limit 0 means the server's maximum");
    assertTrue(capped.getMore());
  }

  /** Puts each key (2 bytes) with a 298-byte value: 300 bytes a key-value. */
  private static void putAll(KvState into, String... keys) {
    for (var k : keys) {
      into.apply(WriteOp.newBuilder().setPut(Put.newBuilder().setKey(b(k)).setValue(b("x".repeat(298)))).build(),
          KvState.OpListener.NONE);
    }
  }

  /** limit.answer.bytes: a scan of large values pages by bytes too, and always makes progress. */
  @Test
  void aScanAnswerStopsAtTheAnswerBoundAndAlwaysHoldsOneKey() {
    var small = new KvState(1000);
    putAll(small, "k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9");
    var page = small.scan(Scan.getDefaultInstance(), 100);
    assertEquals(List.of("k0", "k1", "k2", "k3"), page.getKvsList().stream().map(kv -> kv.getKey().toStringUtf8())
        .toList(), "300 bytes a key-value: the fourth passes 1,000 bytes and is the last");
    assertTrue(page.getMore());
    var keysOnly = small.scan(Scan.newBuilder().setKeysOnly(true).build(), 100);
    assertEquals(10, keysOnly.getKvsCount(), "keys only: the values do not count");
    assertFalse(keysOnly.getMore());

    var huge = new KvState(10);
    huge.apply(WriteOp.newBuilder().setPut(Put.newBuilder().setKey(b("a")).setValue(b("y".repeat(100)))).build(),
        KvState.OpListener.NONE);
    huge.apply(WriteOp.newBuilder().setPut(Put.newBuilder().setKey(b("b")).setValue(b("z"))).build(),
        KvState.OpListener.NONE);
    var first = huge.scan(Scan.getDefaultInstance(), 100);
    assertEquals(1, first.getKvsCount(), "a value larger than the bound still comes, alone");
    assertTrue(first.getMore());
    var next = huge.scan(Scan.newBuilder().setStart(b("a\0")).build(), 100);
    assertEquals(List.of(b("b")), next.getKvsList().stream().map(kv -> kv.getKey()).toList());
    assertFalse(next.getMore());
  }

  @Test
  void aDeleteDeletesTheWholeRangeButListsDeletedValuesOnlyUpToTheAnswerBound() {
    var small = new KvState(1000);
    putAll(small, "k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9");
    var deleted = small.apply(WriteOp.newBuilder().setDelete(Delete.newBuilder().setKey(b("k")).setRangeEnd(b("l"))
        .setPrevKv(true)).build(), KvState.OpListener.NONE).getDelete();
    assertEquals(10, deleted.getDeleted());
    assertEquals(0, small.size());
    // 340 bytes each, with what a KeyValue adds: 340, 680, then 1,020 reaches the bound.
    assertEquals(3, deleted.getPrevCount());
    assertTrue(deleted.getPrevTruncated());

    putAll(small, "a0", "a1", "a2", "a3", "a4", "b5", "b6", "b7", "b8", "b9");
    var txn = small.apply(WriteOp.newBuilder().setTxn(Txn.newBuilder()
        .addSuccess(Op.newBuilder().setDelete(Delete.newBuilder().setKey(b("a")).setRangeEnd(b("b")).setPrevKv(true)))
        .addSuccess(Op.newBuilder().setDelete(Delete.newBuilder().setKey(b("b")).setRangeEnd(b("c")).setPrevKv(true))))
        .build(), KvState.OpListener.NONE).getTxn();
    assertEquals(0, small.size(), "a txn's deletes delete everything");
    var first = txn.getResults(0).getDelete();
    var second = txn.getResults(1).getDelete();
    assertEquals(List.of(5L, 3, true), List.of(first.getDeleted(), first.getPrevCount(), first.getPrevTruncated()));
    assertEquals(List.of(5L, 0, true), List.of(second.getDeleted(), second.getPrevCount(), second.getPrevTruncated()),
        "the bound counts a txn's deletes together");

    var whole = new KvState(1000);
    whole.apply(WriteOp.newBuilder().setPut(Put.newBuilder().setKey(b("k")).setValue(b("v"))).build(),
        KvState.OpListener.NONE);
    var one = whole.apply(WriteOp.newBuilder().setDelete(Delete.newBuilder().setKey(b("a")).setRangeEnd(b("z"))
        .setPrevKv(true)).build(), KvState.OpListener.NONE).getDelete();
    assertEquals(1, one.getPrevCount());
    assertFalse(one.getPrevTruncated());
  }

  @Test
  void aTxnsGetsAndPutsPreviousValuesShareTheAnswerBound() {
    var small = new KvState(1000);
    putAll(small, "k0", "k1", "k2", "k3", "k4"); // 300 bytes each, key and value
    var txn = Txn.newBuilder();
    for (var k : List.of("k0", "k1", "k2", "k3")) {
      txn.addSuccess(Op.newBuilder().setGet(dev.kvraft.proto.Get.newBuilder().setKey(b(k))));
    }
    txn.addSuccess(Op.newBuilder().setGet(dev.kvraft.proto.Get.newBuilder().setKey(b("absent"))));
    txn.addSuccess(Op.newBuilder().setPut(Put.newBuilder().setKey(b("k4")).setValue(b("new")).setPrevKv(true)));
    var results = small.apply(WriteOp.newBuilder().setTxn(txn).build(), KvState.OpListener.NONE).getTxn()
        .getResultsList();
    // 340 bytes each with what a KeyValue adds: 340, 680, then 1,020 reaches the bound: three gets come, the one
    // that reaches it the last.
    for (int i = 0; i < 3; i++) {
      assertTrue(results.get(i).getGet().hasKv(), "get " + i);
      assertFalse(results.get(i).getGet().getTruncated());
    }
    assertTrue(results.get(3).getGet().getTruncated(), "the fourth is left out");
    assertFalse(results.get(4).getGet().hasKv() || results.get(4).getGet().getTruncated(), "no such key: neither");
    var put = results.get(5).getPut();
    assertFalse(put.hasPrev(), "past the bound: the put's previous value is left out");
    assertTrue(put.getPrevTruncated());
    assertEquals(b("new"), small.get(b("k4")).getValue(),
        "the put ran all the same");

    var more = small.apply(WriteOp.newBuilder().setTxn(Txn.newBuilder()
        .addSuccess(Op.newBuilder().setGet(dev.kvraft.proto.Get.newBuilder().setKey(b("k0"))))
        .addSuccess(Op.newBuilder().setGet(dev.kvraft.proto.Get.newBuilder().setKey(b("k1"))))
        .addSuccess(Op.newBuilder().setGet(dev.kvraft.proto.Get.newBuilder().setKey(b("k2"))))
        .addSuccess(Op.newBuilder().setGet(dev.kvraft.proto.Get.newBuilder().setKey(b("k3"))))
        .addSuccess(Op.newBuilder().setGet(dev.kvraft.proto.Get.newBuilder().setKey(b("k0"))))).build(),
        KvState.OpListener.NONE).getTxn();
    assertFalse(more.getResults(0).getGet().getTruncated(), "each txn has its own bound");
    assertTrue(more.getResults(4).getGet().getTruncated(), "and this one reached it");
  }

  @Test
  void keysSortAsUnsignedBytes() {
    state.apply(WriteOp.newBuilder().setPut(Put.newBuilder().setKey(ByteString.copyFrom(new byte[] {(byte) 0xff}))
        .setValue(b("high"))).build(), KvState.OpListener.NONE);
    put("a", "low");
    var keys = state.scan(Scan.getDefaultInstance(), 10).getKvsList();
    assertEquals(b("a"), keys.get(0).getKey());
  }

  /** Key "k" holds value "m" at version 2, create revision 1, mod revision 2 (store revision 2). */
  @ParameterizedTest(name = "{0} {1} {2} -> {3}")
  @CsvSource({
      "VALUE, EQUAL, m, true", "VALUE, EQUAL, x, false", "VALUE, NOT_EQUAL, x, true", "VALUE, NOT_EQUAL, m, false",
      "VALUE, LESS, n, true", "VALUE, LESS, m, false", "VALUE, GREATER, l, true", "VALUE, GREATER, m, false",
      "VERSION, EQUAL, 2, true", "VERSION, EQUAL, 1, false", "VERSION, NOT_EQUAL, 1, true",
      "VERSION, LESS, 3, true", "VERSION, LESS, 2, false", "VERSION, GREATER, 1, true", "VERSION, GREATER, 2, false",
      "CREATE_REVISION, EQUAL, 1, true", "CREATE_REVISION, NOT_EQUAL, 1, false", "CREATE_REVISION, LESS, 2, true",
      "CREATE_REVISION, GREATER, 0, true", "CREATE_REVISION, GREATER, 1, false",
      "MOD_REVISION, EQUAL, 2, true", "MOD_REVISION, NOT_EQUAL, 2, false", "MOD_REVISION, LESS, 3, true",
      "MOD_REVISION, LESS, 2, false", "MOD_REVISION, GREATER, 1, true", "MOD_REVISION, GREATER, 2, false",
  })
  void everyCompareTargetAndOperator(Compare.Target target, Compare.Operator op, String operand, boolean expected) {
    put("k", "l");
    put("k", "m");
    var c = compare("k", target, op, operand);
    assertEquals(expected, state.holds(c));
  }

  @ParameterizedTest(name = "missing key: {0} {1} {2} -> {3}")
  @CsvSource({
      "VALUE, EQUAL, '', false", "VALUE, NOT_EQUAL, x, false", "VALUE, GREATER, '', false",
      "VERSION, EQUAL, 0, true", "CREATE_REVISION, EQUAL, 0, true", "MOD_REVISION, LESS, 1, true",
      "VERSION, GREATER, 0, false",
  })
  void missingKeyComparesAsZeroAndValueComparesFail(Compare.Target target, Compare.Operator op, String operand,
      boolean expected) {
    assertEquals(expected, state.holds(compare("absent", target, op, operand)));
  }

  private static Compare compare(String key, Compare.Target target, Compare.Operator op, String operand) {
    var c = Compare.newBuilder().setKey(b(key)).setTarget(target).setOperator(op);
    switch (target) {
      case VALUE -> c.setValue(b(operand));
      case VERSION -> c.setVersion(Long.parseLong(operand));
      case CREATE_REVISION -> c.setCreateRevision(Long.parseLong(operand));
      case MOD_REVISION -> c.setModRevision(Long.parseLong(operand));
      default -> throw new IllegalArgumentException();
    }
    return c.build();
  }

  @Test
  void txnRunsTheChosenBranchAtomicallyWithOneRevision() {
    put("x", "1");
    var txn = Txn.newBuilder()
        .addCompare(compare("x", Compare.Target.VALUE, Compare.Operator.EQUAL, "1"))
        .addSuccess(Op.newBuilder().setPut(Put.newBuilder().setKey(b("x")).setValue(b("2"))))
        .addSuccess(Op.newBuilder().setPut(Put.newBuilder().setKey(b("y")).setValue(b("2"))))
        .addSuccess(Op.newBuilder().setGet(Get.newBuilder().setKey(b("y"))))
        .addFailure(Op.newBuilder().setPut(Put.newBuilder().setKey(b("failed")).setValue(b("1"))))
        .build();
    var r = state.apply(WriteOp.newBuilder().setTxn(txn).build(), KvState.OpListener.NONE).getTxn();
    assertTrue(r.getSucceeded());
    assertEquals(2, state.revision());
    assertEquals(2, state.get(b("x")).getModRevision());
    assertEquals(2, state.get(b("y")).getModRevision());
    assertEquals(b("2"), r.getResults(2).getGet().getKv().getValue(), "a get in a txn sees its earlier writes");
    assertNull(state.get(b("failed")));

    var again = state.apply(WriteOp.newBuilder().setTxn(txn).build(), KvState.OpListener.NONE).getTxn();
    assertFalse(again.getSucceeded(), "x is 2 now, so the compare fails");
    assertEquals(b("1"), state.get(b("failed")).getValue());
    assertEquals(3, state.revision());
  }

  @Test
  void readOnlyTxnKeepsTheRevision() {
    put("x", "1");
    var txn = Txn.newBuilder().addSuccess(Op.newBuilder().setGet(Get.newBuilder().setKey(b("x")))).build();
    var r = state.apply(WriteOp.newBuilder().setTxn(txn).build(), KvState.OpListener.NONE).getTxn();
    assertTrue(r.getSucceeded(), "no compares means success");
    assertEquals(1, state.revision());
  }

  @Test
  void listenerSeesEveryOperationWithItsResult() {
    var seen = new ArrayList<String>();
    KvState.OpListener l = (op, key, value, rev, result) -> seen.add(op + " " + key.toStringUtf8() + " " + rev
        + " " + result);
    state.apply(WriteOp.newBuilder().setPut(Put.newBuilder().setKey(b("a")).setValue(b("1"))).build(), l);
    state.apply(WriteOp.newBuilder().setPut(Put.newBuilder().setKey(b("a")).setValue(b("2"))).build(), l);
    state.apply(WriteOp.newBuilder().setDelete(Delete.newBuilder().setKey(b("a"))).build(), l);
    state.apply(WriteOp.newBuilder().setDelete(Delete.newBuilder().setKey(b("a"))).build(), l);
    state.apply(WriteOp.newBuilder().setTxn(Txn.newBuilder()
        .addCompare(compare("a", Compare.Target.VERSION, Compare.Operator.GREATER, "0"))).build(), l);
    assertEquals(List.of("put a 1 created", "put a 2 updated", "delete a 3 deleted", "delete a 0 not found",
        "txn  0 compare failed"), seen);
  }

  /**
   * Random puts, deletes and range deletes over a small key space, checked after every step against a plain sorted
   * map: gets, full scans, the snapshot copy and the size must all agree (the state keeps a hash map and a sorted map
   * in step).
   */
  @Test
  void pointAndRangeOperationsAgreeWithASortedMapModel() {
    var model = new java.util.TreeMap<String, String>();
    var random = new java.util.Random(7);
    for (int step = 0; step < 3000; step++) {
      var k = "k" + random.nextInt(40);
      switch (random.nextInt(10)) {
        case 0, 1 -> {
          assertEquals(model.remove(k) == null ? 0 : 1, delete(k, ""), "step " + step + ": delete " + k);
        }
        case 2 -> {
          var end = "k" + random.nextInt(40);
          var doomed = k.compareTo(end) < 0 ? model.subMap(k, end) : new java.util.TreeMap<String, String>();
          assertEquals(doomed.size(), delete(k, end), "step " + step + ": delete [" + k + ", " + end + ")");
          doomed.clear();
        }
        default -> {
          var v = "v" + step;
          put(k, v);
          model.put(k, v);
        }
      }
      for (int i = 0; i < 40; i++) {
        var kv = state.get(b("k" + i));
        assertEquals(model.get("k" + i), kv == null ? null : kv.getValue().toStringUtf8(), "step " + step + ": k" + i);
      }
      var scanned = state.scan(Scan.getDefaultInstance(), 1000).getKvsList().stream()
          .map(kv -> kv.getKey().toStringUtf8() + "=" + kv.getValue().toStringUtf8()).toList();
      var expected = model.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue()).toList();
      assertEquals(expected, scanned, "step " + step);
      assertEquals(expected, state.copy().stream()
          .map(e -> new String(e.key(), StandardCharsets.UTF_8) + "=" + new String(e.value(), StandardCharsets.UTF_8))
          .toList(), "step " + step);
      assertEquals(model.size(), state.size(), "step " + step);
    }
  }
}
