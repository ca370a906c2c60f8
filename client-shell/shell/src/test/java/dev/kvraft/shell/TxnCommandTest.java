package dev.kvraft.shell;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.kvraft.proto.Compare;
import dev.kvraft.shell.commands.TxnCommandAccess;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class TxnCommandTest {
  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', value = {
      "value(counter) = \"41\"        | counter | VALUE           | EQUAL     | 41",
      "value(\"a b\") != 'x y'        | a b     | VALUE           | NOT_EQUAL | x y",
      "version(k) > 2                 | k       | VERSION         | GREATER   | 2",
      "create(k) = 0                  | k       | CREATE_REVISION | EQUAL     | 0",
      "mod( k ) < 10                  | k       | MOD_REVISION    | LESS      | 10",
  })
  void parsesCompares(String line, String key, Compare.Target target, Compare.Operator op, String operand) {
    var c = TxnCommandAccess.compare(line);
    assertEquals(ByteString.copyFromUtf8(key), c.getKey());
    assertEquals(target, c.getTarget());
    assertEquals(op, c.getOperator());
    var actual = switch (target) {
      case VALUE -> c.getValue().toStringUtf8();
      case VERSION -> String.valueOf(c.getVersion());
      case CREATE_REVISION -> String.valueOf(c.getCreateRevision());
      default -> String.valueOf(c.getModRevision());
    };
    assertEquals(operand, actual);
  }

  @ParameterizedTest
  @ValueSource(strings = {"value(k)", "size(k) = 1", "version(k) = many", "value(a b) = 1", "value(k) = "})
  void badComparesAreUsageErrors(String line) {
    assertThrows(UsageException.class, () -> TxnCommandAccess.compare(line));
  }

  @Test
  void aGetLeftOutOfTheAnswerIsNotShownAsNotFound() {
    var built = dev.kvraft.proto.Txn.newBuilder().addSuccess(TxnCommandAccess.op("get a"))
        .addSuccess(TxnCommandAccess.op("get b")).addSuccess(TxnCommandAccess.op("get c")).build();
    var result = dev.kvraft.proto.TxnResult.newBuilder().setSucceeded(true)
        .addResults(dev.kvraft.proto.OpResult.newBuilder().setGet(dev.kvraft.proto.GetResult.newBuilder()
            .setKv(dev.kvraft.proto.KeyValue.newBuilder().setKey(ByteString.copyFromUtf8("a"))
                .setValue(ByteString.copyFromUtf8("1")))))
        .addResults(dev.kvraft.proto.OpResult.newBuilder().setGet(dev.kvraft.proto.GetResult.newBuilder()
            .setTruncated(true)))
        .addResults(dev.kvraft.proto.OpResult.newBuilder().setGet(dev.kvraft.proto.GetResult.getDefaultInstance()))
        .build();
    var lines = TxnCommandAccess.lines(built, result);
    assertEquals("SUCCESS", lines.get(0));
    assertEquals("a = 1", lines.get(1));
    assertTrue(lines.get(2).startsWith("b (left out") && lines.get(2).contains("limit.answer.bytes"), lines.get(2));
    assertEquals("c (not found)", lines.get(3));
    var results = (java.util.List<?>) TxnCommandAccess.json(built, result).get("results");
    assertEquals(java.util.Map.of("truncated", true), results.get(1));
    assertEquals(null, results.get(2));
  }

  @Test
  void parsesRequests() {
    assertEquals("k", TxnCommandAccess.op("get k").getGet().getKey().toStringUtf8());
    assertEquals("v w", TxnCommandAccess.op("put k 'v w'").getPut().getValue().toStringUtf8());
    assertEquals("z", TxnCommandAccess.op("del a z").getDelete().getRangeEnd().toStringUtf8());
    assertThrows(UsageException.class, () -> TxnCommandAccess.op("scan a"));
    assertThrows(UsageException.class, () -> TxnCommandAccess.op("put k"));
  }
}
