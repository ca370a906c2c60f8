package dev.kvraft.server.net;

import static org.junit.jupiter.api.Assertions.*;

import com.google.protobuf.CodedOutputStream;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import dev.kvraft.server.db.Forwarder;
import dev.kvraft.server.db.MemberToken;
import dev.kvraft.server.testing.Requests;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The leader link against a fake leader (a server socket on port 0 that reads what the test says): a request any of
 * whose bytes reached the leader is never reported "not sent" (the loop would retry it on a new leader and it could
 * apply twice), whether the leader ends the connection mid-batch or the node shuts down mid-batch.
 *
 * <p>The batch is made larger than the kernel can buffer (four times {@code net.ipv4.tcp_wmem}'s maximum, the fake
 * leader's receive buffer kept small), so the writer is still writing it when the connection ends; no sleeps.
 */
@Timeout(60)
class LeaderLinkTest {
  /** What the fake leader reads of the forwarded requests (after the MemberHello) before it stops: mid-frame. */
  private static final int LEADER_READS = 200_000;
  private static final int VALUE_BYTES = 60 * 1024;

  private final RecordingSink sink = new RecordingSink();
  private final MemberToken token = new MemberToken();
  private ServerSocket leader;
  private LeaderLink link;

  record Failure(List<Long> ids, boolean sent, String reason) {}

  /** Everything the link reports, in order. */
  static final class RecordingSink implements Forwarder.Sink {
    final BlockingQueue<Response> replies = new LinkedBlockingQueue<>();
    final BlockingQueue<Failure> failures = new LinkedBlockingQueue<>();

    @Override
    public void replied(Response response) {
      replies.add(response);
    }

    @Override
    public void failed(List<Long> ids, boolean sent, String reason) {
      failures.add(new Failure(List.copyOf(ids), sent, reason));
    }
  }

  @BeforeEach
  void setUp() throws IOException {
    token.installed(Map.of(MemberToken.SNAPSHOT_NAME, "ab".repeat(32)));
    leader = new ServerSocket();
    // Small, so the kernel holds little on the leader's side (set before bind: accepted sockets inherit it).
    leader.setReceiveBufferSize(4096);
    leader.bind(new InetSocketAddress("127.0.0.1", 0));
    link = new LeaderLink(sink, null, "n2", token);
  }

  @AfterEach
  void tearDown() throws IOException {
    link.close();
    leader.close();
  }

  private String address() {
    return "127.0.0.1:" + leader.getLocalPort();
  }

  /** More bytes of requests than the kernel's send and receive buffers can hold between the link and the leader. */
  private static List<Request> bigBatch() throws IOException {
    long wmemMax = 4L << 20;
    var wmem = Path.of("/proc/sys/net/ipv4/tcp_wmem");
    if (Files.isReadable(wmem)) {
      var fields = Files.readString(wmem).trim().split("\\s+");
      wmemMax = Long.parseLong(fields[fields.length - 1]);
    }
    long total = Math.max(16L << 20, 4 * wmemMax);
    var value = "v".repeat(VALUE_BYTES);
    var batch = new ArrayList<Request>();
    for (long id = 1, bytes = 0; bytes < total; id++) {
      var r = Requests.put(id, "k" + id, value).toBuilder().setForwarded(true).setTimeoutMs(5000).build();
      batch.add(r);
      bytes += r.getSerializedSize();
    }
    return batch;
  }

  /** The ids of the requests any of whose bytes are among the first {@code received} bytes after the hello. */
  private static List<Long> reached(List<Request> batch, long received) {
    var ids = new ArrayList<Long>();
    long offset = 0;
    for (var r : batch) {
      if (offset < received) {
        ids.add(r.getId());
      }
      int size = r.getSerializedSize();
      offset += CodedOutputStream.computeUInt32SizeNoTag(size) + size;
    }
    return ids;
  }

  /** Accepts the link's connection, reads its MemberHello and then {@link #LEADER_READS} bytes of requests. */
  private Socket acceptAndReadPart() throws IOException {
    var s = leader.accept();
    var in = s.getInputStream();
    var hello = Request.parseDelimitedFrom(in);
    assertTrue(hello.hasMemberHello(), hello.toString());
    assertEquals(LEADER_READS, in.readNBytes(LEADER_READS).length);
    return s;
  }

  /**
   * Waits until every id of the batch was reported failed, failing at once on a request that reached the leader and
   * is reported not sent, or on one reported twice; then checks that "not sent" is the batch's tail.
   */
  private void assertReported(List<Request> batch, List<Long> reached) throws InterruptedException {
    var sent = new HashMap<Long, Boolean>();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (sent.size() < batch.size()) {
      var f = sink.failures.poll(deadline - System.nanoTime(), TimeUnit.NANOSECONDS);
      assertNotNull(f, "only " + sent.size() + " of " + batch.size() + " requests were reported within 30 s");
      record(sent, f, reached);
    }
    // Reports that came with the last ones: none may name a request again.
    for (Failure f; (f = sink.failures.poll()) != null; ) {
      record(sent, f, reached);
    }
    assertTrue(sink.replies.isEmpty(), "the fake leader answers nothing");
    // "Not sent" is the tail of the batch: nothing after a request that was not handed down was.
    boolean notSentSeen = false;
    for (var r : batch) {
      boolean s = sent.get(r.getId());
      assertFalse(notSentSeen && s, "request " + r.getId() + " reported sent after one that was not");
      notSentSeen |= !s;
    }
    assertTrue(notSentSeen, "the end of a batch larger than the kernel's buffers never left: reported not sent");
  }

  private static void record(Map<Long, Boolean> sent, Failure f, List<Long> reached) {
    for (var id : f.ids()) {
      assertFalse(!f.sent() && reached.contains(id), "request " + id + " reached the leader but was reported as"
          + " never sent (" + f.reason() + "): the loop would retry it on a new leader and it could apply twice");
      assertNull(sent.put(id, f.sent()), "request " + id + " reported failed twice");
    }
  }

  @Test
  void theLeaderEndingTheConnectionMidBatchReportsEveryRequestItReadAsSent() throws Exception {
    var batch = bigBatch();
    link.send(address(), batch);
    try (var s = acceptAndReadPart()) {
      // EOF to the link's reader, which closes the connection while the writer is blocked mid-batch; the fake leader
      // reads nothing more.
      s.shutdownOutput();
      assertReported(batch, reached(batch, LEADER_READS));
    }
  }

  @Test
  void closingTheLinkMidBatchReportsEveryRequestTheLeaderReadAsSent() throws Exception {
    var batch = bigBatch();
    link.send(address(), batch);
    try (var s = acceptAndReadPart()) {
      link.close();
      assertReported(batch, reached(batch, LEADER_READS));
    }
  }
}
