package dev.kvraft.server.raft.tls;

import dev.kvraft.server.testing.TestCerts;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import org.apache.ratis.protocol.Message;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Not a test: prints commit throughput and sequential latency over the TLS transport and over
 * plain NETTY in the same harness. Runs only with KVRAFT_MEASURE=1 in the environment.
 */
class TlsThroughputMeasurement {
  private static final int PIPELINED = 5_000;
  private static final int IN_FLIGHT = 64;
  private static final int SEQUENTIAL = 500;

  @TempDir Path dir;

  @Test
  void measure() throws Exception {
    assumeTrue(System.getenv("KVRAFT_MEASURE") != null, "set KVRAFT_MEASURE=1 to measure");
    var certs = TestCerts.in(dir);
    certs.ca("ca");
    var tls = new TlsNettyTransport[4];
    for (int i = 1; i <= 3; i++) {
      tls[i] = TlsNettyTransport.load(certs.node("ca", "n" + i, "n" + i));
    }
    for (int round = 0; round < 2; round++) {
      run("netty", null, dir.resolve("plain" + round));
      run("tls  ", tls, dir.resolve("tls" + round));
    }
  }

  private static void run(String name, TlsNettyTransport[] tls, Path data) throws Exception {
    try (var h = new RaftHarness()) {
      for (int i = 1; i <= 3; i++) {
        h.start(i, tls == null ? null : tls[i], data);
      }
      try (var c = h.client(tls == null ? null : tls[1], 20)) {
        c.io().send(Message.valueOf("warm"));
        long t0 = System.nanoTime();
        for (int i = 0; i < SEQUENTIAL; i++) {
          c.io().send(Message.valueOf("s" + i));
        }
        double seqMs = (System.nanoTime() - t0) / 1e6 / SEQUENTIAL;
        var permits = new Semaphore(IN_FLIGHT);
        t0 = System.nanoTime();
        for (int i = 0; i < PIPELINED; i++) {
          permits.acquire();
          c.async().send(Message.valueOf("p" + i)).whenComplete((r, e) -> permits.release());
        }
        if (!permits.tryAcquire(IN_FLIGHT, 60, TimeUnit.SECONDS)) {
          throw new AssertionError("pipelined commits did not finish in 60 s");
        }
        double perSec = PIPELINED / ((System.nanoTime() - t0) / 1e9);
        System.err.printf("MEASURE %s: %.0f commits/s (%d in flight), sequential %.2f ms/commit%n",
            name, perSec, IN_FLIGHT, seqMs);
      }
      RaftHarness.await("quiet", Duration.ofSeconds(1), () -> true);
    }
  }
}
