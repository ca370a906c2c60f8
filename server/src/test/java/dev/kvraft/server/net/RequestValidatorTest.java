package dev.kvraft.server.net;

import static dev.kvraft.server.testing.Requests.b;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvraft.proto.Compact;
import dev.kvraft.proto.Compare;
import dev.kvraft.proto.Delete;
import dev.kvraft.proto.Error;
import dev.kvraft.proto.Get;
import dev.kvraft.proto.Op;
import dev.kvraft.proto.Put;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Scan;
import dev.kvraft.proto.Status;
import dev.kvraft.proto.Txn;
import dev.kvraft.proto.Watch;
import dev.kvraft.server.config.Limits;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class RequestValidatorTest {
  private static final Limits LIMITS = new Limits(1000, 8, 16, 50, 1 << 20, 2, 10);
  private final RequestValidator validator = new RequestValidator(LIMITS);

  static Stream<Arguments> bad() {
    var put = Op.newBuilder().setPut(Put.newBuilder().setKey(b("k")).setValue(b("v")));
    return Stream.of(
        Arguments.of("no command", Request.newBuilder().setId(1), Error.Code.INVALID_ARGUMENT),
        Arguments.of("empty get key", Request.newBuilder().setGet(Get.newBuilder()), Error.Code.INVALID_ARGUMENT),
        Arguments.of("empty put key", Request.newBuilder().setPut(Put.newBuilder().setValue(b("v"))),
            Error.Code.INVALID_ARGUMENT),
        Arguments.of("key of 9 bytes", Request.newBuilder().setGet(Get.newBuilder().setKey(b("123456789"))),
            Error.Code.TOO_LARGE),
        Arguments.of("value of 17 bytes", Request.newBuilder().setPut(Put.newBuilder().setKey(b("k"))
            .setValue(b("x".repeat(17)))), Error.Code.TOO_LARGE),
        Arguments.of("backwards range", Request.newBuilder().setDelete(Delete.newBuilder().setKey(b("b"))
            .setRangeEnd(b("a"))), Error.Code.INVALID_ARGUMENT),
        Arguments.of("empty range", Request.newBuilder().setDelete(Delete.newBuilder().setKey(b("b"))
            .setRangeEnd(b("b"))), Error.Code.INVALID_ARGUMENT),
        Arguments.of("scan limit over max", Request.newBuilder().setScan(Scan.newBuilder().setLimit(51)),
            Error.Code.TOO_LARGE),
        Arguments.of("txn with too many ops", Request.newBuilder().setTxn(Txn.newBuilder()
            .addSuccess(put).addSuccess(put).addSuccess(put)), Error.Code.TOO_LARGE),
        Arguments.of("txn put with oversize value", Request.newBuilder().setTxn(Txn.newBuilder()
            .addSuccess(Op.newBuilder().setPut(Put.newBuilder().setKey(b("k")).setValue(b("x".repeat(20)))))),
            Error.Code.TOO_LARGE),
        Arguments.of("txn compare operand mismatch", Request.newBuilder().setTxn(Txn.newBuilder()
            .addCompare(Compare.newBuilder().setKey(b("k")).setTarget(Compare.Target.VERSION).setValue(b("1")))),
            Error.Code.INVALID_ARGUMENT),
        Arguments.of("txn op without operation", Request.newBuilder().setTxn(Txn.newBuilder()
            .addFailure(Op.newBuilder())), Error.Code.INVALID_ARGUMENT),
        // uint64 revisions of 2^63 and above would read as negative longs.
        Arguments.of("watch from revision 2^63", Request.newBuilder().setWatch(Watch.newBuilder().setKey(b("k"))
            .setStartRevision(Long.MIN_VALUE)), Error.Code.INVALID_ARGUMENT),
        Arguments.of("lease grant naming id 2^63", Request.newBuilder().setLeaseGrant(
            dev.kvraft.proto.LeaseGrant.newBuilder().setTtlSeconds(10).setId(Long.MIN_VALUE)),
            Error.Code.INVALID_ARGUMENT),
        Arguments.of("compact to revision 2^64 - 1", Request.newBuilder().setCompact(Compact.newBuilder()
            .setRevision(-1)), Error.Code.INVALID_ARGUMENT),
        // A type no value names would be kept and make every later snapshot fail to install.
        Arguments.of("role grant of permission type -1", Request.newBuilder().setAuthChange(
            dev.kvraft.proto.AuthChange.newBuilder().setAction(dev.kvraft.proto.AuthChange.Action.ROLE_GRANT)
                .setRole("r").setPermission(dev.kvraft.proto.Permission.newBuilder().setTypeValue(-1)
                    .setKey(b("k")))), Error.Code.INVALID_ARGUMENT));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("bad")
  void rejectsWithItsOwnCode(String name, Request.Builder request, Error.Code code) {
    var error = validator.validate(request.build());
    assertTrue(error.isPresent(), name + " should be rejected");
    assertEquals(code, error.get().getCode(), error.get().getMessage());
    assertTrue(!error.get().getMessage().isBlank());
  }

  @Test
  void acceptsRequestsAtTheLimits() {
    var ok = Stream.of(
        Request.newBuilder().setGet(Get.newBuilder().setKey(b("12345678"))),
        Request.newBuilder().setPut(Put.newBuilder().setKey(b("k")).setValue(b("x".repeat(16)))),
        Request.newBuilder().setPut(Put.newBuilder().setKey(b("k"))),
        Request.newBuilder().setDelete(Delete.newBuilder().setKey(b("a")).setRangeEnd(b("b"))),
        Request.newBuilder().setScan(Scan.newBuilder().setLimit(50)),
        Request.newBuilder().setScan(Scan.getDefaultInstance()),
        Request.newBuilder().setStatus(Status.getDefaultInstance()));
    ok.forEach(r -> assertEquals(java.util.Optional.empty(), validator.validate(r.build()), r.toString()));
  }
}
