package dev.kvraft.server;

import static dev.kvraft.server.testing.Requests.b;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvraft.proto.AuthChange;
import dev.kvraft.proto.Authenticate;
import dev.kvraft.proto.CancelWatch;
import dev.kvraft.proto.Error;
import dev.kvraft.proto.Permission;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import dev.kvraft.proto.Watch;
import dev.kvraft.server.testing.RawClient;
import dev.kvraft.server.testing.Requests;
import dev.kvraft.server.testing.TestNodes;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Watches at the protocol level: the stream's shape, a client that never reads, and permissions. */
@Timeout(120)
class WatchServerTest {
  private KvraftServer server;
  private final AtomicLong ids = new AtomicLong(1);

  @AfterEach
  void stop() {
    if (server != null) {
      server.close();
    }
  }

  private double metric(String name) throws Exception {
    return dev.kvraft.server.metrics.Scrape.get(server.metricsPort(), "/metrics").sum(name);
  }

  private Response call(RawClient c, Request.Builder r) throws Exception {
    return c.call(r.setId(ids.getAndIncrement()).build());
  }

  private static Request.Builder watch(String key, String end) {
    return Request.newBuilder().setWatch(Watch.newBuilder().setKey(b(key)).setRangeEnd(b(end)));
  }

  @Test
  void theStreamIsCreatedThenEventsThenCancelled(@TempDir Path dir) throws Exception {
    server = KvraftServer.start(TestNodes.single(dir));
    try (var c = RawClient.to(server); var writer = RawClient.to(server)) {
      var created = call(c, watch("a/", "a0"));
      assertTrue(created.getWatch().getCreated(), created.toString());
      assertEquals(1, metric("kvraft_watches_open"), "the metric counts the open watch");
      long watchId = created.getId();
      var put = writer.call(Requests.put(ids.getAndIncrement(), "a/1", "x"));
      var events = c.read();
      assertEquals(watchId, events.getId());
      assertEquals(1, events.getWatch().getEventsCount());
      assertEquals(put.getHeader().getRevision(), events.getHeader().getRevision());
      assertEquals(1, metric("kvraft_watch_events_sent_total"));
      var cancel = call(c, Request.newBuilder().setCancelWatch(CancelWatch.newBuilder().setWatchId(watchId)));
      assertTrue(cancel.getCancelWatch().getCanceled(), cancel.toString());
      assertEquals(0, metric("kvraft_watches_open"), "the cancelled watch is no longer counted");
      assertEquals(0, metric("kvraft_watches_ended_by_node_total"), "the client cancelled it, not the node");
      writer.call(Requests.put(ids.getAndIncrement(), "a/2", "y"));
      // After the cancel, the next thing on the connection is the answer to the next request, not an event.
      var status = call(c, Request.newBuilder().setStatus(dev.kvraft.proto.Status.getDefaultInstance()));
      assertTrue(status.hasStatus(), status.toString());
      assertFalse(call(c, Request.newBuilder().setCancelWatch(CancelWatch.newBuilder().setWatchId(watchId)))
          .getCancelWatch().getCanceled(), "already gone");

      var bad = call(c, watch("b", "a"));
      assertEquals(Error.Code.INVALID_ARGUMENT, bad.getError().getCode(), bad.toString());
    }
  }

  @Test
  void aClientThatNeverReadsIsCutOffWithoutSlowingWrites(@TempDir Path dir) throws Exception {
    server = KvraftServer.start(TestNodes.single(dir, Map.of("limit.outbox.bytes", "1048576",
        "client.write.timeout.ms", "1000")));
    var value = "v".repeat(64 * 1024);
    // A small receive buffer, set before connecting: loopback's own may hold tens of megabytes.
    try (var sleeper = new java.net.Socket(); var writer = RawClient.to(server)) {
      sleeper.setReceiveBufferSize(16 * 1024);
      sleeper.connect(new java.net.InetSocketAddress("127.0.0.1", server.clientPort()), 2000);
      sleeper.setSoTimeout(15_000);
      var in = new java.io.BufferedInputStream(sleeper.getInputStream());
      watch("big/", "big0").setId(ids.getAndIncrement()).build().writeDelimitedTo(sleeper.getOutputStream());
      assertTrue(Response.parseDelimitedFrom(in).getWatch().getCreated());
      // 25 MB of events for a client that reads none of them: far past its outbox and the kernel's buffers.
      for (int i = 0; i < 400; i++) {
        writer.write(Requests.put(ids.getAndIncrement(), "big/" + (i % 10), value + i));
      }
      writer.flush();
      long lastRevision = 0;
      for (int i = 0; i < 400; i++) {
        var r = writer.read();
        assertFalse(r.hasError(), r.toString());
        lastRevision = r.getHeader().getRevision();
      }
      // The watcher fell behind; the node waited client.write.timeout.ms for the client, then closed its
      // connection (the writer's stays open).
      dev.kvraft.server.testing.Await.until("the node to close the connection that reads nothing",
          java.time.Duration.ofSeconds(30), () -> dev.kvraft.server.metrics.Scrape.get(server.metricsPort(),
              "/metrics").sum("kvraft_connections_open") <= 1);
      // What it did get is a gapless prefix of the changes, then the end of the stream.
      long expected = lastRevision - 399;
      Response r;
      try {
        while ((r = Response.parseDelimitedFrom(in)) != null) {
          for (var e : r.getWatch().getEventsList()) {
            assertEquals(expected++, e.getKv().getModRevision(), "no gap, no duplicate");
          }
        }
      } catch (java.io.IOException cutMidMessage) {
        // The node closed the socket while a message was on its way: the stream ends there.
      }
      assertTrue(expected <= lastRevision, "it was cut off before the end (got up to " + (expected - 1) + ")");
      var status = call(writer, Request.newBuilder().setStatus(dev.kvraft.proto.Status.getDefaultInstance()));
      assertEquals(lastRevision, status.getStatus().getRevision(), "the node serves on");
      dev.kvraft.server.testing.Await.until("the closed connection's watch to end", java.time.Duration.ofSeconds(10),
          () -> metric("kvraft_watches_open") == 0 && metric("kvraft_watches_catching_up") == 0);
    }
  }

  /** A connection's watches are bounded in bytes too: ranges of 4 KiB keys run out long before 10,000 of them. */
  @Test
  void watchesOfLongKeysAreBoundedInBytes(@TempDir Path dir) throws Exception {
    server = KvraftServer.start(TestNodes.single(dir));
    try (var c = RawClient.to(server)) {
      var from = "k".repeat(4096);
      var to = "l".repeat(4096);
      int opened = 0;
      Response refused = null;
      for (int i = 0; i < 2000 && refused == null; i++) {
        var r = call(c, watch(from, to));
        if (r.hasError()) {
          refused = r;
        } else {
          assertTrue(r.getWatch().getCreated(), r.toString());
          opened++;
        }
      }
      assertNotNull(refused, "2,000 watches of 16 KiB each fit in 16 MiB");
      assertEquals(Error.Code.OVERLOADED, refused.getError().getCode(), refused.toString());
      assertTrue(refused.getError().getMessage().contains("bytes open on this connection"), refused.toString());
      assertEquals((16 << 20) / (2 * (4096 + 4096) + 256), opened, "16 MiB of watches weighing 16,640 bytes each");
      assertTrue(call(c, watch("short", "")).getWatch().getCreated(), "a light watch still fits");
    }
  }

  /**
   * Nested ranges cost the square of their number in the index: one client cannot make that gigabytes, nor take the
   * node's whole budget from the others.
   */
  @Test
  void nestedRangeWatchesAreBoundedBeforeTheyCostGigabytes(@TempDir Path dir) throws Exception {
    server = KvraftServer.start(TestNodes.single(dir));
    try (var c = RawClient.to(server); var other = RawClient.to(server)) {
      Response refused = null;
      int opened = 0;
      for (int i = 0; i < 5000 && refused == null; i++) {
        var r = call(c, watch(String.format("n%05d", i), String.format("n%05d", 10_000 - i)));
        if (r.hasError()) {
          refused = r;
        } else {
          opened++;
        }
      }
      assertNotNull(refused, "5,000 nested ranges would hold 25 million index entries");
      assertEquals(Error.Code.OVERLOADED, refused.getError().getCode(), refused.toString());
      assertTrue(refused.getError().getMessage().contains("on this connection"), refused.toString());
      assertTrue(refused.getError().getMessage().contains("overlap less"), refused.toString());
      assertTrue(opened >= 300 && opened <= 316, "about sqrt(100,000) nested watches fit one connection: " + opened);
      assertTrue(call(other, watch("n00000", "n10000")).getWatch().getCreated(),
          "another client's range watch still fits");
    }
  }

  @Test
  void aWatchNeedsReadPermissionOnItsRange(@TempDir Path dir) throws Exception {
    server = KvraftServer.start(TestNodes.single(dir));
    try (var admin = RawClient.to(server)) {
      for (var change : new AuthChange.Builder[] {
          AuthChange.newBuilder().setAction(AuthChange.Action.USER_ADD).setName("root").setPassword("r00t-pw-x"),
          AuthChange.newBuilder().setAction(AuthChange.Action.USER_GRANT_ROLE).setName("root").setRole("root"),
          AuthChange.newBuilder().setAction(AuthChange.Action.ROLE_ADD).setRole("reader"),
          AuthChange.newBuilder().setAction(AuthChange.Action.ROLE_GRANT).setRole("reader").setPermission(
              Permission.newBuilder().setType(Permission.Type.READ).setKey(b("pub/")).setRangeEnd(b("pub0"))),
          AuthChange.newBuilder().setAction(AuthChange.Action.USER_ADD).setName("alice").setPassword("alice-pw-x"),
          AuthChange.newBuilder().setAction(AuthChange.Action.USER_GRANT_ROLE).setName("alice").setRole("reader"),
          AuthChange.newBuilder().setAction(AuthChange.Action.AUTH_ENABLE)}) {
        var r = call(admin, Request.newBuilder().setAuthChange(change));
        assertFalse(r.hasError(), r.toString());
      }
    }
    try (var alice = RawClient.to(server)) {
      var auth = call(alice, Request.newBuilder().setAuthenticate(Authenticate.newBuilder().setUser("alice")
          .setPassword("alice-pw-x")));
      assertFalse(auth.hasError(), auth.toString());
      assertTrue(call(alice, watch("pub/", "pub0")).getWatch().getCreated());
      var refused = call(alice, watch("sec/", "sec0"));
      assertEquals(Error.Code.PERMISSION_DENIED, refused.getError().getCode(), refused.toString());
      assertNotNull(refused.getError().getMessage());
      var all = call(alice, watch("\0", "\0"));
      assertEquals(Error.Code.PERMISSION_DENIED, all.getError().getCode(), "every key needs every key's permission");
    }
  }
}
