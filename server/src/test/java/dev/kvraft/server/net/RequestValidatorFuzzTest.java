package dev.kvraft.server.net;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.kvraft.proto.Error;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.WriteOp;
import dev.kvraft.server.config.Limits;
import dev.kvraft.server.db.KvState;

/**
 * Fuzzes {@link RequestValidator} with every {@link Request} the fuzzer's bytes parse as, under small random limits
 * (so every limit is reachable). It must never throw: it answers an {@code INVALID_ARGUMENT} or {@code TOO_LARGE}
 * error with a message, or accepts. An accepted request must be safe to run: its write applies to a
 * {@link KvState} (holding a few keys) without an exception, and its read or scan answers.
 *
 * <p>Seeds: {@code src/test/resources/dev/kvraft/server/net/RequestValidatorFuzzTestInputs/answersOrAccepts/}.
 * Fuzzing mode: TESTING.md, "Fuzzing".
 */
class RequestValidatorFuzzTest {

  @FuzzTest(maxDuration = "2m")
  void answersOrAccepts(FuzzedDataProvider data) {
    var limits = new Limits(data.consumeInt(1, 1 << 20), data.consumeInt(1, 16), data.consumeInt(1, 64),
        data.consumeInt(1, 16), 1 << 20, data.consumeInt(1, 8), 10_000);
    Request request;
    try {
      request = Request.parseFrom(data.consumeRemainingAsBytes());
    } catch (InvalidProtocolBufferException e) {
      return; // FrameReader answers INVALID_ARGUMENT before the validator sees it
    }
    var answer = new RequestValidator(limits).validate(request);
    if (answer.isPresent()) {
      var error = answer.get();
      assertTrue(error.getCode() == Error.Code.INVALID_ARGUMENT || error.getCode() == Error.Code.TOO_LARGE,
          "validator answered " + error.getCode());
      assertFalse(error.getMessage().isBlank(), "an error without a message");
      return;
    }
    var state = new KvState();
    for (var key : new String[] {"a", "b", "c"}) {
      state.apply(WriteOp.newBuilder().setPut(dev.kvraft.proto.Put.newBuilder()
          .setKey(com.google.protobuf.ByteString.copyFromUtf8(key))).build(), KvState.OpListener.NONE);
    }
    switch (request.getCommandCase()) {
      case PUT -> state.apply(WriteOp.newBuilder().setPut(request.getPut()).build(), KvState.OpListener.NONE);
      case DELETE -> state.apply(WriteOp.newBuilder().setDelete(request.getDelete()).build(),
          KvState.OpListener.NONE);
      case TXN -> state.apply(WriteOp.newBuilder().setTxn(request.getTxn()).build(), KvState.OpListener.NONE);
      case GET -> state.get(request.getGet().getKey());
      case SCAN -> assertTrue(state.scan(request.getScan(), limits.maxScanLimit()).getKvsCount()
          <= limits.maxScanLimit(), "a scan answered more than limit.scan keys");
      case STATUS, MEMBERS, READ_INDEX, SNAPSHOT -> { }
      case COMMAND_NOT_SET -> throw new AssertionError("a request with no command was accepted");
    }
  }
}
