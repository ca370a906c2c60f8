package dev.kvraft.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvraft.proto.GetResult;
import dev.kvraft.proto.Response;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class CallTimeoutTest {
  /**
   * Found by review: timeout_ms was the call's budget in milliseconds cast to int, so a client timeout just over
   * 2^32 ms (49.7 days; kvsh --timeout takes up to a year) went out as a few milliseconds, and the node gave every
   * request that long; one between 2^31 and 2^32 ms went out as a negative number.
   */
  @Test
  void aTimeoutBeyondWhatTimeoutMsHoldsIsSentAsTheLargestNotWrappedAround() throws Exception {
    try (var node = new FakeNode(r -> Response.newBuilder().setGet(GetResult.getDefaultInstance()).build());
        var client = KvClient.builder().addresses(node.address()).discoverMembers(false).writesToLeader(false)
            .timeout(Duration.ofMillis((1L << 32) + 5_000)).build()) {
      client.get("a");
      assertEquals(1, node.received.size(), node.received.toString());
      int sent = node.received.get(0).getTimeoutMs();
      assertTrue(sent == Integer.MAX_VALUE, "timeout_ms " + Integer.toUnsignedString(sent)
          + " for a timeout of 2^32 ms + 5 s");
    }
  }
}
