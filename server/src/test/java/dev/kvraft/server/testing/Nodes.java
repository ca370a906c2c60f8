package dev.kvraft.server.testing;

import dev.kvraft.proto.Request;
import dev.kvraft.proto.Response;
import dev.kvraft.proto.Status;
import dev.kvraft.server.KvraftServer;
import java.io.IOException;
import java.time.Duration;

/** Polling helpers for in-JVM servers: each waits with a deadline, never a bare sleep. */
public final class Nodes {
  private Nodes() {}

  /** The node's Status, over TLS when the node's client port has it ({@link RawClient#to}). */
  public static dev.kvraft.proto.StatusResult status(KvraftServer s) throws IOException {
    try (var c = RawClient.to(s)) {
      return status(c);
    }
  }

  /** The Status of the node serving clients in plaintext on {@code port} of 127.0.0.1 (one in another process too). */
  public static dev.kvraft.proto.StatusResult status(int port) throws IOException {
    try (var c = new RawClient(port)) {
      return status(c);
    }
  }

  private static dev.kvraft.proto.StatusResult status(RawClient c) throws IOException {
    return c.call(Request.newBuilder().setId(1).setStatus(Status.getDefaultInstance()).build()).getStatus();
  }

  /** Sends a request, retrying UNAVAILABLE answers (no leader yet) until the timeout. */
  public static Response call(KvraftServer s, Request r, Duration timeout) throws IOException, InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    try (var c = RawClient.to(s)) {
      while (true) {
        var resp = c.call(r);
        if (!resp.hasError() || resp.getError().getCode() != dev.kvraft.proto.Error.Code.UNAVAILABLE
            || System.nanoTime() > deadline) {
          return resp;
        }
        Thread.sleep(20);
      }
    }
  }

  /** Waits until the node has applied at least {@code index}. */
  public static void awaitApplied(KvraftServer s, long index, Duration timeout) throws Exception {
    Await.until("node " + s.config().nodeId() + " to apply up to index " + index, timeout,
        () -> status(s).getAppliedIndex(), applied -> applied >= index);
  }

  /** Waits until one of the nodes (nulls skipped) says it leads, and returns it. */
  public static KvraftServer awaitLeader(Duration timeout, KvraftServer... nodes) throws Exception {
    return Await.until("a leader among " + nodes.length + " node(s)", timeout, () -> {
      for (var n : nodes) {
        if (n != null && status(n).getRole().equals("LEADER")) {
          return n;
        }
      }
      return null;
    }, java.util.Objects::nonNull);
  }

  public static KvraftServer awaitLeader(Duration timeout, java.util.List<KvraftServer> nodes) throws Exception {
    return awaitLeader(timeout, nodes.toArray(KvraftServer[]::new));
  }
}
