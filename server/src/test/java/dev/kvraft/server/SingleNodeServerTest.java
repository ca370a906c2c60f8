package dev.kvraft.server;

import static dev.kvraft.server.testing.Requests.b;
import static dev.kvraft.server.testing.Requests.delete;
import static dev.kvraft.server.testing.Requests.get;
import static dev.kvraft.server.testing.Requests.put;
import static dev.kvraft.server.testing.Requests.scan;
import static dev.kvraft.server.testing.Requests.staleGet;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.kvraft.proto.Compare;
import dev.kvraft.proto.Error;
import dev.kvraft.proto.Members;
import dev.kvraft.proto.Op;
import dev.kvraft.proto.Put;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import dev.kvraft.proto.Scan;
import dev.kvraft.proto.Status;
import dev.kvraft.proto.Txn;
import dev.kvraft.server.testing.Nodes;
import dev.kvraft.server.testing.RawClient;
import dev.kvraft.server.testing.TestNodes;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.concurrent.Callable;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** A real single-node server over real TCP on a free loopback port. */
@Timeout(120)
class SingleNodeServerTest {
  @TempDir
  Path dir;
  KvraftServer server;

  @BeforeEach
  void start() throws Exception {
    server = KvraftServer.start(TestNodes.single(dir));
    Nodes.awaitLeader(Duration.ofSeconds(30), server);
  }

  @AfterEach
  void stop() {
    if (server != null) {
      server.close();
    }
  }

  private RawClient client() throws IOException {
    return new RawClient(server.clientPort());
  }

  @Test
  void everyCommand() throws IOException {
    try (var c = client()) {
      var p = c.call(put(1, "a", "1"));
      assertEquals(1, p.getId());
      assertFalse(p.hasError(), p.toString());
      assertEquals(1, p.getHeader().getRevision());
      assertEquals("n1", p.getHeader().getNodeId());
      assertTrue(p.getHeader().getTerm() >= 1);

      var g = c.call(get(2, "a"));
      assertEquals(b("1"), g.getGet().getKv().getValue());
      assertEquals(1, g.getGet().getKv().getVersion());
      assertFalse(c.call(get(3, "missing")).getGet().hasKv());
      assertEquals(b("1"), c.call(staleGet(4, "a")).getGet().getKv().getValue());

      var prev = c.call(Request.newBuilder().setId(5)
          .setPut(Put.newBuilder().setKey(b("a")).setValue(b("2")).setPrevKv(true)).build());
      assertEquals(b("1"), prev.getPut().getPrev().getValue());

      for (var k : new String[] {"r/1", "r/2", "r/3", "s"}) {
        c.call(put(6, k, "v"));
      }
      var s = c.call(scan(7, "r/", "r0", 2));
      assertEquals(2, s.getScan().getKvsCount());
      assertTrue(s.getScan().getMore());
      var d = c.call(delete(8, "r/", "r0"));
      assertEquals(3, d.getDelete().getDeleted());
      assertEquals(3, d.getDelete().getPrevCount());
      assertEquals(1, c.call(delete(9, "s", "")).getDelete().getDeleted());

      var txn = Txn.newBuilder()
          .addCompare(Compare.newBuilder().setKey(b("a")).setTarget(Compare.Target.VALUE).setValue(b("2")))
          .addSuccess(Op.newBuilder().setPut(Put.newBuilder().setKey(b("a")).setValue(b("3"))))
          .build();
      assertTrue(c.call(Request.newBuilder().setId(10).setTxn(txn).build()).getTxn().getSucceeded());
      assertFalse(c.call(Request.newBuilder().setId(11).setTxn(txn).build()).getTxn().getSucceeded());

      var status = c.call(Request.newBuilder().setId(12).setStatus(Status.getDefaultInstance()).build()).getStatus();
      assertEquals("n1", status.getNodeId());
      assertEquals("LEADER", status.getRole());
      assertEquals("n1", status.getLeaderId());
      assertEquals(1, status.getKeyCount());
      assertTrue(status.getAppliedIndex() >= 9, status.toString());
      assertTrue(status.getAppliedIndex() <= status.getCommitIndex(), "a node applies only what is committed");
      assertEquals(1, status.getMembersCount());

      var members = c.call(Request.newBuilder().setId(13).setMembers(Members.getDefaultInstance()).build());
      assertEquals("127.0.0.1:" + server.clientPort(), members.getMembers().getMembers(0).getClientAddress());
      assertTrue(members.getMembers().getMembers(0).getLeader());
    }
  }

  @Test
  void thousandPipelinedRequestsOnOneConnection() throws IOException {
    try (var c = client()) {
      for (int i = 0; i < 1000; i++) {
        c.write(i % 2 == 0 ? put(i, "p" + i, "v" + i) : get(i, "p" + (i - 1)));
      }
      c.flush();
      var ids = new HashSet<Long>();
      for (int i = 0; i < 1000; i++) {
        var r = c.read();
        assertNotNull(r, "connection closed after " + i + " responses");
        assertFalse(r.hasError(), r.toString());
        assertTrue(ids.add(r.getId()), "duplicate response id " + r.getId());
      }
      assertEquals(1000, ids.size());
      assertEquals(b("v998"), c.call(get(5000, "p998")).getGet().getKv().getValue());
      assertEquals(500, c.call(Request.newBuilder().setId(5001).setStatus(Status.getDefaultInstance()).build())
          .getStatus().getRevision());
    }
  }

  @Test
  void fiftyConcurrentConnections() throws Exception {
    try (var pool = Executors.newVirtualThreadPerTaskExecutor()) {
      var futures = new ArrayList<Future<Integer>>();
      for (int t = 0; t < 50; t++) {
        int thread = t;
        futures.add(pool.submit((Callable<Integer>) () -> {
          try (var c = client()) {
            for (int i = 0; i < 20; i++) {
              var key = "c" + thread + "/" + i;
              assertFalse(c.call(put(i, key, key)).hasError());
              assertEquals(b(key), c.call(get(i, key)).getGet().getKv().getValue());
            }
          }
          return 20;
        }));
      }
      int total = 0;
      for (var f : futures) {
        total += f.get();
      }
      assertEquals(1000, total);
    }
  }

  @Test
  void malformedFrameGetsAnErrorAndClosesOnlyThatConnection() throws IOException {
    try (var bad = client(); var good = client()) {
      assertFalse(good.call(put(1, "k", "before")).hasError());
      // A valid length, then bytes that are not a Request (field 2 as a varint of wire type 0 is fine; 0xff is not).
      bad.sendRaw(new byte[] {4, 0x08, 0x2a, (byte) 0xff, (byte) 0xff});
      var error = bad.read();
      assertNotNull(error);
      assertEquals(Error.Code.INVALID_ARGUMENT, error.getError().getCode(), error.toString());
      assertEquals(42, error.getId(), "the id is echoed when it can be read");
      assertNull(bad.read(), "the server closes a connection that broke the protocol");
      assertEquals(b("before"), good.call(get(2, "k")).getGet().getKv().getValue());
      assertFalse(good.call(put(3, "k", "after")).hasError());
    }
  }

  /** limit.answer.bytes (4 MiB): a scan over large values answers in pages of about 4 MiB, never one huge answer. */
  @Test
  void aScanOfLargeValuesPagesByBytes() throws IOException {
    try (var c = client()) {
      var mib = ByteString.copyFrom(new byte[1 << 20]);
      for (int i = 0; i < 6; i++) {
        var r = c.call(Request.newBuilder().setId(i + 1).setPut(Put.newBuilder().setKey(b("big/" + i))
            .setValue(mib)).build());
        assertFalse(r.hasError(), r.toString());
      }
      var first = c.call(scan(10, "big/", "big0", 0)).getScan();
      assertEquals(4, first.getKvsCount(), "four 1 MiB values fill the 4 MiB answer");
      assertTrue(first.getMore());
      var rest = c.call(Request.newBuilder().setId(11).setScan(Scan.newBuilder()
          .setStart(first.getKvs(3).getKey().concat(ByteString.copyFrom(new byte[1]))).setEnd(b("big0"))).build())
          .getScan();
      assertEquals(java.util.List.of(b("big/4"), b("big/5")), rest.getKvsList().stream().map(kv -> kv.getKey())
          .toList());
      assertFalse(rest.getMore());
    }
  }

  @Test
  void oversizeKeyValueAndFrameEachGetTheirCodeAndWriteNothing() throws IOException {
    try (var c = client()) {
      long before = c.call(put(1, "k", "v")).getHeader().getRevision();
      var key = c.call(put(2, "k".repeat(4097), "v"));
      assertEquals(Error.Code.TOO_LARGE, key.getError().getCode());
      assertTrue(key.getError().getMessage().contains("4097"), key.getError().getMessage());
      var value = c.call(Request.newBuilder().setId(3).setPut(Put.newBuilder().setKey(b("k"))
          .setValue(ByteString.copyFrom(new byte[(1 << 20) + 1]))).build());
      assertEquals(Error.Code.TOO_LARGE, value.getError().getCode());
      var empty = c.call(put(4, "", "v"));
      assertEquals(Error.Code.INVALID_ARGUMENT, empty.getError().getCode());
      var status = c.call(Request.newBuilder().setId(5).setStatus(Status.getDefaultInstance()).build());
      assertEquals(before, status.getHeader().getRevision(), "rejected requests change nothing");
    }
    try (var c = client()) {
      var big = Request.newBuilder().setId(77).setPut(Put.newBuilder().setKey(b("k"))
          .setValue(ByteString.copyFrom(new byte[(4 << 20) + 10]))).build();
      var out = new ByteArrayOutputStream();
      big.writeDelimitedTo(out);
      c.sendRaw(out.toByteArray());
      var r = c.read();
      assertEquals(Error.Code.TOO_LARGE, r.getError().getCode());
      assertEquals(77, r.getId());
      assertNull(c.read(), "an oversize frame closes the connection");
    }
    try (var c = client()) {
      assertEquals(b("v"), c.call(get(1, "k")).getGet().getKv().getValue(), "the server keeps serving");
    }
  }

  @Test
  void restartOnTheSameDataDirectoryKeepsEveryWrite() throws Exception {
    var config = server.config();
    long revision;
    try (var c = client()) {
      for (int i = 0; i < 200; i++) {
        c.write(put(i, "key" + i, "value" + i));
      }
      c.write(delete(1000, "key1", ""));
      c.flush();
      for (int i = 0; i <= 200; i++) {
        assertFalse(c.read().hasError());
      }
      revision = c.call(get(2000, "key0")).getHeader().getRevision();
    }
    server.close();
    server = KvraftServer.start(config);
    Nodes.awaitLeader(Duration.ofSeconds(30), server);
    try (var c = client()) {
      for (int i = 0; i < 200; i++) {
        var r = c.call(get(i, "key" + i));
        if (i == 1) {
          assertFalse(r.getGet().hasKv(), "the delete survived the restart too");
        } else {
          assertEquals(b("value" + i), r.getGet().getKv().getValue(), "key" + i);
        }
      }
      assertEquals(revision, c.call(get(1, "key0")).getHeader().getRevision());
    }
  }

  @Test
  void gracefulShutdownAnswersEveryRequestAndFreesThePorts() throws Exception {
    var c = client();
    int n = 300;
    for (int i = 0; i < n; i++) {
      c.write(put(i, "s" + i, "v"));
    }
    c.flush();
    long start = System.nanoTime();
    server.close();
    var elapsed = Duration.ofNanos(System.nanoTime() - start);
    assertTrue(elapsed.compareTo(Duration.ofSeconds(5)) < 0, "shutdown took " + elapsed);
    var answered = new HashMap<Long, Response>();
    for (Response r; (r = c.read()) != null; ) {
      answered.put(r.getId(), r);
    }
    c.close();
    // Every request read before the shutdown was answered; none hangs.
    assertEquals(n, answered.size(), "answers: " + answered.size());
    for (var port : new int[] {server.clientPort(), server.config().self().peerPort()}) {
      try (var s = new ServerSocket()) {
        s.bind(new InetSocketAddress("127.0.0.1", port));
      }
    }
    server = null;
  }
}
