package dev.kvraft.server.net;

import static org.junit.jupiter.api.Assertions.*;

import com.google.protobuf.ByteString;
import dev.kvraft.proto.Error;
import dev.kvraft.proto.MemberHello;
import dev.kvraft.proto.Request;
import dev.kvraft.server.auth.AuthState;
import dev.kvraft.server.db.MemberToken;
import dev.kvraft.server.testing.RawClient;
import dev.kvraft.server.testing.Requests;
import dev.kvraft.server.testing.TestNodes;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A follower's link may say its MemberHello to a leader that has not applied the member token yet (leadership moved
 * in the cluster's first moments). The hello is refused UNAVAILABLE, and the connection keeps it: once the token is
 * there, the next forwarded request is checked against it, so the follower's pipelined requests are not refused
 * PERMISSION_DENIED for a hello that was only early. A real {@link ClientListener} over loopback, whose token the test
 * sets when it chooses, in front of a loop that answers every request it is handed.
 */
@Timeout(30)
class MemberHelloWindowTest {
  private static final byte[] TOKEN = new byte[32];

  static {
    java.util.Arrays.fill(TOKEN, (byte) 7);
  }

  @TempDir
  Path dir;
  private final MemberToken token = new MemberToken();
  private final AnsweringLoop loop = new AnsweringLoop();
  private ClientListener listener;

  @BeforeEach
  void start() throws Exception {
    listener = new ClientListener(TestNodes.single(dir, Map.of()), loop, null, Members.byToken(token), null,
        () -> new AuthState.View(false, Map.of(), Map.of()));
    listener.start();
  }

  @AfterEach
  void stop() throws Exception {
    listener.close();
  }

  private static Request hello(byte[] presented) {
    return Request.newBuilder().setId(-1).setMemberHello(MemberHello.newBuilder().setNodeId("n2")
        .setToken(ByteString.copyFrom(presented))).build();
  }

  private static Request forwardedPut(long id) {
    return Requests.put(id, "k" + id, "v").toBuilder().setForwarded(true).build();
  }

  /** The leader applies the token (as from a snapshot: the test cannot apply a Raft entry). */
  private void tokenApplied() {
    token.installed(Map.of(MemberToken.SNAPSHOT_NAME, HexFormat.of().formatHex(TOKEN)));
  }

  @Test
  void anEarlyHelloWithTheRightTokenCountsOnceTheTokenIsApplied() throws Exception {
    try (var c = new RawClient(listener.port())) {
      c.write(hello(TOKEN));
      c.write(forwardedPut(1));
      c.flush();
      var hello = c.read();
      assertEquals(Error.Code.UNAVAILABLE, hello.getError().getCode(), "no token yet: " + hello);
      var early = c.read();
      assertEquals(1, early.getId());
      assertEquals(Error.Code.UNAVAILABLE, early.getError().getCode(), "retried by the follower's loop: " + early);
      assertEquals(List.of(), loop.handed(), "nothing reaches the loop before the token");

      tokenApplied();
      var readIndex = c.call(Request.newBuilder().setId(2)
          .setReadIndex(dev.kvraft.proto.ReadIndex.getDefaultInstance()).build());
      assertFalse(readIndex.hasError(), "the hello kept from before the token proves membership now: " + readIndex);
      var later = c.call(forwardedPut(3));
      assertFalse(later.hasError(), "and the connection stays a member's: " + later);
      assertEquals(List.of(2L, 3L), loop.handed());
    }
  }

  @Test
  void anEarlyHelloWithAWrongTokenIsRefusedOnceTheTokenIsApplied() throws Exception {
    try (var c = new RawClient(listener.port())) {
      var hello = c.call(hello(new byte[32]));
      assertEquals(Error.Code.UNAVAILABLE, hello.getError().getCode(), "no token yet to tell: " + hello);
      tokenApplied();
      var forged = c.call(forwardedPut(1));
      assertEquals(Error.Code.PERMISSION_DENIED, forged.getError().getCode(), forged.toString());
      assertTrue(forged.getError().getMessage().contains("member token"), forged.getError().getMessage());
      assertEquals(List.of(), loop.handed(), "a wrong token never reaches the loop");
    }
  }
}
