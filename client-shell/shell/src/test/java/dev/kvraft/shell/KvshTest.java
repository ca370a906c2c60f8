package dev.kvraft.shell;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvraft.server.KvraftServer;
import dev.kvraft.server.testing.TestNodes;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** kvsh in its scripted modes (-c and stdin) against a real server. */
@Timeout(120)
class KvshTest {
  @TempDir
  static Path dir;
  static KvraftServer server;
  static String address;

  @BeforeAll
  static void start() throws Exception {
    server = KvraftServer.start(TestNodes.single(dir));
    address = "127.0.0.1:" + server.clientPort();
  }

  @AfterAll
  static void stop() {
    server.close();
  }

  static KvshRun kvsh(String stdin, String... args) {
    return KvshRun.at(address, System.getenv(), stdin, args);
  }

  @Test
  void watchPrintsChangesFromARevisionAndStopsAfterCount() throws Exception {
    var put1 = kvsh("", "-c", "put wsh/a 1", "-c", "put wsh/b 2", "-c", "del wsh/a", "-c", "put other x");
    assertEquals(0, put1.status(), put1.err());
    long first;
    try (var c = dev.kvraft.client.KvClient.connect(address)) {
      first = c.get("wsh/b").orElseThrow().getModRevision() - 1;
    }
    // From the past: the history, in order, then it stops after --count.
    var r = kvsh("", "-c", "watch --prefix wsh/ --rev " + first + " --prev-kv --count 3");
    assertEquals(0, r.status(), r.err());
    assertEquals("PUT wsh/a 1 rev=" + first + "\nPUT wsh/b 2 rev=" + (first + 1) + "\nDELETE wsh/a rev="
        + (first + 2) + " prev=1\n", r.out());

    // From now: a change made while it waits; one JSON object per line.
    var watching = java.util.concurrent.CompletableFuture.supplyAsync(
        () -> kvsh("", "--format", "json", "-c", "watch wsh/live --count 1"));
    try (var c = dev.kvraft.client.KvClient.connect(address)) {
      // Keep writing until the watch (which starts from its own "now") has seen one.
      for (int i = 0; !watching.isDone() && i < 600; i++) {
        c.put("wsh/live", "v" + i);
        java.util.concurrent.locks.LockSupport.parkNanos(50_000_000L);
      }
    }
    var live = watching.get(30, java.util.concurrent.TimeUnit.SECONDS);
    assertEquals(0, live.status(), live.err());
    assertTrue(live.out().matches("\\{\"type\":\"PUT\",\"key\":\"wsh/live\",\"value\":\"v\\d+\",.*\\}\n"),
        live.out());

    var bad = kvsh("", "-c", "watch --range a");
    assertEquals(1, bad.status(), bad.out());
    assertTrue(bad.err().contains("watch"), "a usage error names the command: " + bad.err());
  }

  @Test
  void leasesFromTheShell() {
    var grant = kvsh("", "-c", "lease grant 30");
    assertEquals(0, grant.status(), grant.err());
    var m = java.util.regex.Pattern.compile("lease (\\d+) granted with TTL 30 s").matcher(grant.out());
    assertTrue(m.find(), grant.out());
    var id = m.group(1);
    var r = kvsh("", "-c", "put lsh/a 1 --lease " + id, "-c", "lease ttl " + id + " --keys", "-c", "lease list");
    assertEquals(0, r.status(), r.err());
    assertTrue(r.out().contains("lease " + id + ": ") && r.out().contains("of 30 s, 1 keys\n  lsh/a\n"), r.out());
    var revoke = kvsh("", "-c", "lease revoke " + id, "-c", "get lsh/a");
    assertTrue(revoke.out().contains("lease revoked; 1 keys deleted"), revoke.out());
    assertTrue(revoke.out().endsWith("(not found)\n"), "the key went with its lease: " + revoke.out());
    var gone = kvsh("", "-c", "put lsh/b 1 --lease " + id);
    assertEquals(1, gone.status());
    assertTrue(gone.err().contains("LEASE_NOT_FOUND"), gone.err());
    assertEquals(1, kvsh("", "-c", "lease grant zero").status());
  }

  @Test
  void twoLocksNeverOverlapAndTheCommandsStatusIsKvshs(@TempDir Path tmp) throws Exception {
    var log = tmp.resolve("lock.log");
    var script = "echo start $$ >> '" + log + "'; sleep 0.3; echo end $$ >> '" + log + "'";
    var runs = new ArrayList<java.util.concurrent.CompletableFuture<KvshRun>>();
    for (int i = 0; i < 3; i++) {
      runs.add(java.util.concurrent.CompletableFuture.supplyAsync(
          () -> kvsh("", "-c", "lock shlock --ttl 5 -- sh -c \"" + script + "\"")));
    }
    for (var run : runs) {
      var r = run.get(60, java.util.concurrent.TimeUnit.SECONDS);
      assertEquals(0, r.status(), r.err());
    }
    var lines = java.nio.file.Files.readAllLines(log);
    assertEquals(6, lines.size(), lines.toString());
    for (int i = 0; i < lines.size(); i += 2) {
      assertTrue(lines.get(i).startsWith("start ") && lines.get(i + 1).equals("end " + lines.get(i).substring(6)),
          "one holder at a time: " + lines);
    }
    var failing = kvsh("", "-c", "lock shlock -- sh -c 'exit 3'");
    assertEquals(3, failing.status(), "kvsh ends with the command's status: " + failing.err());
  }

  @Test
  void electObservesTheLeaderOfAnElection() throws Exception {
    try (var c = dev.kvraft.client.KvClient.connect(address);
         var leading = c.election("shelect").campaign(dev.kvraft.client.KvClient.utf8("node-a"), 5)) {
      var r = kvsh("", "-c", "elect --observe shelect --count 1");
      assertEquals(0, r.status(), r.err());
      assertEquals("node-a\n", r.out());
    }
    assertEquals(1, kvsh("", "-c", "elect shelect").status(), "a campaign needs a value");
  }

  @Test
  void dashCRunsCommands() {
    var r = kvsh("", "-c", "put sh/a 1", "-c", "get sh/a");
    assertEquals(0, r.status(), r.err());
    assertTrue(r.out().contains("OK (revision"), r.out());
    assertTrue(r.out().endsWith("1\n"), r.out());
  }

  @Test
  void stdinLinesRunInOrderAndFailuresSetTheExitStatus() {
    var r = kvsh("""
        # comments and blank lines are skipped

        put sh/x 'hello world'
        get sh/x
        bogus
        get sh/x
        """);
    assertEquals(1, r.status(), "one command failed");
    assertTrue(r.out().contains("hello world\nhello world\n"), "the line after the error still ran: " + r.out());
    assertTrue(r.err().contains("unknown command 'bogus'"), r.err());
  }

  @Test
  void everyCommandOfTheFirstShell() {
    var r = kvsh("""
        put sh2/1 one
        put sh2/2 two
        put sh2/3 "three\\nlines"
        scan sh2/
        scan sh2/ --keys-only --limit 2
        count sh2/
        del sh2/1
        cas sh2/2 two TWO
        get sh2/2 --rev
        del --prefix sh2/
        count sh2/
        status
        members
        leader
        help
        help scan
        """);
    assertEquals(0, r.status(), r.err());
    var out = r.out();
    assertTrue(out.contains("sh2/3  three\\nlines"), "newlines are escaped in tables:\n" + out);
    assertTrue(out.contains("(more keys follow"), out);
    assertTrue(out.contains("\n3\n"), "count before the delete:\n" + out);
    assertTrue(out.contains("deleted 1 key\n"), out);
    assertTrue(out.contains("sh2/2  TWO"), out);
    assertTrue(out.contains("deleted 2 keys"), out);
    assertTrue(out.contains("\n0\n"), "count after the delete:\n" + out);
    assertTrue(out.contains("LEADER"), out);
    assertTrue(out.contains("n1 " + address), "leader command:\n" + out);
    assertTrue(out.contains("example: scan user/ --limit 10"), out);
  }

  @Test
  void wrongArgumentsShowTheUsageAndCasMismatchFails() {
    var r = kvsh("put onlykey\n");
    assertEquals(1, r.status());
    assertTrue(r.err().contains("usage: put KEY VALUE"), r.err());
    var cas = kvsh("put sh3/k a\ncas sh3/k b c\n");
    assertEquals(1, cas.status());
    assertTrue(cas.err().contains("cas did not write: the key holds 'a'"), cas.err());
    var typo = kvsh("gte sh3/k\n");
    assertTrue(typo.err().contains("did you mean 'get'?"), typo.err());
  }

  @Test
  void leaderTransferAnswersWhoLeadsAndRefusesStrangers() {
    var r = kvsh("", "-c", "leader transfer n1");
    assertEquals(0, r.status(), r.err());
    assertEquals("leader is now n1\n", r.out());
    var bad = kvsh("", "-c", "leader transfer n9");
    assertEquals(1, bad.status());
    assertTrue(bad.err().contains("not a voting member"), bad.err());
    var usage = kvsh("", "-c", "leader elect");
    assertEquals(1, usage.status());
    assertTrue(usage.err().contains("transfer"), usage.err());
  }

  @Test
  void statusShowsTheP99OfWhatTheNodeServed() {
    var r = kvsh("", "-c", "put st/a 1", "-c", "get st/a", "-c", "status --local");
    assertEquals(0, r.status(), r.err());
    assertTrue(r.out().contains("P99 MS"), r.out());
    for (var command : List.of("put", "get")) {
      assertTrue(java.util.regex.Pattern.compile(command + " \\d+\\.\\d").matcher(r.out()).find(),
          "p99 of " + command + "s in milliseconds:\n" + r.out());
    }
    var json = kvsh("", "--format", "json", "-c", "status --local");
    assertTrue(json.out().contains("\"p99_ms\"") && json.out().contains("\"put\""), json.out());
  }

  @Test
  void jsonFormatForScripts() {
    var r = kvsh("", "--format", "json", "-c", "put sh4/k v", "-c", "get sh4/k", "-c", "scan sh4/");
    assertEquals(0, r.status(), r.err());
    var lines = r.out().split("\n");
    assertTrue(lines[0].startsWith("{\"ok\":true,\"revision\":"), lines[0]);
    assertTrue(lines[1].startsWith("{\"key\":\"sh4/k\",\"value\":\"v\","), lines[1]);
    assertTrue(lines[2].startsWith("[{\"key\":\"sh4/k\""), lines[2]);
  }

  @Test
  void txnReadsItsBlocksFromStdinAndFromTheFollowingDashC() {
    var r = kvsh("""
        put t/counter 41
        txn
        value(t/counter) = "41"

        put t/counter 42
        get t/counter

        get t/counter

        txn
        value(t/counter) = "41"

        put t/counter 43

        get t/counter

        """);
    assertEquals(0, r.status(), r.err());
    assertTrue(r.out().contains("SUCCESS\nOK\nt/counter = 42\n"), r.out());
    assertTrue(r.out().contains("FAILURE\nt/counter = 42\n"), r.out());
    var c = kvsh("", "--format", "json", "-c", "txn", "-c", "version(t/none) = 0", "-c", "", "-c", "put t/none x",
        "-c", "", "-c", "", "-c", "get t/none");
    assertEquals(0, c.status(), c.err());
    assertTrue(c.out().startsWith("{\"succeeded\":true,\"results\":[\"OK\"]}\n"), c.out());
  }

  @Test
  void snapshotCommandReportsTheFile() {
    var r = kvsh("", "-c", "put snap/a 1", "-c", "snapshot");
    assertEquals(0, r.status(), r.err());
    assertTrue(r.out().contains("snapshot at index") && r.out().contains("snapshot."), r.out());
  }

  @Test
  void backupWritesTheStoreToALocalSqliteFile(@TempDir Path out) throws Exception {
    var file = out.resolve("b.db");
    var r = kvsh("", "-c", "put backup/a 1", "-c", "backup " + file);
    assertEquals(0, r.status(), r.err());
    assertTrue(r.out().contains("backup at revision") && r.out().contains("written to " + file), r.out());
    var rows = new java.util.HashMap<String, String>();
    dev.kvraft.storage.SnapshotFiles.read(file, row -> rows.put(new String(row.key()), new String(row.value())));
    assertEquals("1", rows.get("backup/a"));
    var missingDir = kvsh("", "-c", "backup " + out.resolve("no/such/dir/b.db"));
    assertEquals(1, missingDir.status());
    assertTrue(missingDir.err().contains("does not exist"), missingDir.err());
  }

  @Test
  void compactDropsHistoryAndSaysWhenItIsAlreadyCompacted() {
    var put = kvsh("", "-c", "put compact/a 1", "-c", "put compact/a 2");
    assertEquals(0, put.status(), put.err());
    var m = java.util.regex.Pattern.compile("revision (\\d+)\\)\\s*$").matcher(put.out());
    assertTrue(m.find(), put.out());
    long rev = Long.parseLong(m.group(1));
    var r = kvsh("", "-c", "compact " + rev);
    assertEquals(0, r.status(), r.err());
    assertTrue(r.out().contains("compacted to revision " + rev), r.out());
    var again = kvsh("", "-c", "compact " + rev);
    assertEquals(1, again.status());
    assertTrue(again.err().contains("COMPACTED"), again.err());
    var bad = kvsh("", "-c", "compact yesterday");
    assertEquals(1, bad.status());
    assertTrue(bad.err().contains("not a revision"), bad.err());
  }

  @Test
  void alarmListsNoneAndRefusesAnUnknownSubcommand() {
    var r = kvsh("", "-c", "alarm list", "-c", "alarm disarm");
    assertEquals(0, r.status(), r.err());
    assertTrue(r.out().contains("no alarms") && r.out().contains("alarms disarmed"), r.out());
    var bad = kvsh("", "-c", "alarm raise");
    assertEquals(1, bad.status());
    assertTrue(bad.err().contains("use list or disarm"), bad.err());
  }

  @Test
  void serverErrorsAreReportedWithTheirCode() {
    var r = kvsh("", "-c", "put '' v");
    assertEquals(1, r.status());
    assertTrue(r.err().contains("error (INVALID_ARGUMENT)"), r.err());
  }

  @Test
  void talksTlsWithCacertCertAndKeyAndSaysWhatIsWrongOtherwise(@TempDir Path tlsDir) throws Exception {
    org.junit.jupiter.api.Assumptions.assumeTrue(dev.kvraft.server.testing.TestCerts.opensslPresent(),
        "openssl is missing");
    var certs = dev.kvraft.server.testing.TestCerts.in(tlsDir);
    certs.ca("ca");
    var node = certs.node("ca", "n1", "n1");
    var shell = certs.node("ca", "kvsh", "kvsh");
    try (var tlsNode = KvraftServer.start(TestNodes.single(tlsDir.resolve("data"), dev.kvraft.server.testing.TestCerts.settings(node)))) {
      var at = "127.0.0.1:" + tlsNode.clientPort();
      var ok = run("--address", at, "--cacert", node.caFile().toString(), "--cert", shell.certFile().toString(),
          "--key", shell.keyFile().toString(), "-c", "put tls/a 1", "-c", "get tls/a", "-c", "status");
      assertEquals(0, ok.status(), ok.err());
      assertTrue(ok.out().contains("1\n"), ok.out());
      var plain = run("--address", at, "--timeout", "3", "-c", "get tls/a");
      assertEquals(1, plain.status());
      assertTrue(plain.err().contains("speaks TLS only"), plain.err());
      var noCert = run("--address", at, "--timeout", "3", "--cacert", node.caFile().toString(), "-c", "get tls/a");
      assertEquals(1, noCert.status());
      assertTrue(noCert.err().contains("certificate"), noCert.err());
      var half = run("--address", at, "--cacert", node.caFile().toString(), "--cert", shell.certFile().toString(),
          "-c", "get tls/a");
      assertEquals(2, half.status());
      assertTrue(half.err().contains("--cert and --key go together"), half.err());
    }
  }

  private static KvshRun run(String... args) {
    return KvshRun.of(System.getenv(), "", args);
  }

  @Test
  void memberListsTheVotersAndRefusesWhatCannotBeDone() {
    var list = kvsh("", "-c", "member list");
    assertEquals(0, list.status(), list.err());
    assertTrue(list.out().contains("voter, leader"), list.out());
    var bad = kvsh("", "-c", "member add n2 not-an-address");
    assertEquals(1, bad.status());
    assertTrue(bad.err().contains("INVALID_ARGUMENT"), bad.err());
    var absent = kvsh("", "-c", "member remove n7");
    assertEquals(1, absent.status());
    assertTrue(absent.err().contains("CONFLICT") && absent.err().contains("not a member"), absent.err());
    var usage = kvsh("", "-c", "member frobnicate");
    assertEquals(1, usage.status());
    assertTrue(usage.err().contains("use list, add, remove or promote"), usage.err());
  }

  /**
   * Review finding: 'member add' of a node that is not running was refused by the leader at once, but as UNAVAILABLE,
   * which the client retries: kvsh --timeout 30 asked again and again and failed only after 30 s. The refusal is
   * CONFLICT now (not retried), so kvsh exits at once with the server's message.
   */
  @Test
  void aRefusedMemberAddFailsAtOnceWithTheServersMessage() throws Exception {
    int client;
    int peer;
    try (var a = new java.net.ServerSocket(0); var b = new java.net.ServerSocket(0)) {
      client = a.getLocalPort();
      peer = b.getLocalPort(); // closed below: nobody takes connections there
    }
    long start = System.nanoTime();
    var refused = kvsh("", "--timeout", "30", "-c", "member add n2 127.0.0.1:" + client + ":" + peer);
    var took = java.time.Duration.ofNanos(System.nanoTime() - start);
    assertEquals(1, refused.status(), refused.out());
    assertTrue(refused.err().contains("CONFLICT") && refused.err().contains("does not take connections")
        && refused.err().contains("--join"), refused.err());
    assertTrue(took.compareTo(java.time.Duration.ofSeconds(10)) < 0, "refused after " + took + ", not at once");
    var list = kvsh("", "-c", "member list");
    assertTrue(!list.out().contains("n2"), "the membership is unchanged: " + list.out());
  }

  /** A file name, a command's arguments and a lock's name are text: é is é, not the two chars of its UTF-8 bytes. */
  @Test
  void textArgumentsAreUtf8(@TempDir Path tmp) throws Exception {
    var dir = java.nio.file.Files.createDirectories(tmp.resolve("s\u00e4kerhet"));
    var backup = kvsh("", "-c", "backup " + dir.resolve("b.db"));
    assertEquals(0, backup.status(), backup.err());
    assertTrue(java.nio.file.Files.isRegularFile(dir.resolve("b.db")), backup.out());
    var touched = tmp.resolve("caf\u00e9");
    var lock = kvsh("", "-c", "lock l\u00e5s -- touch " + touched);
    assertEquals(0, lock.status(), lock.err());
    assertTrue(java.nio.file.Files.exists(touched), "touch got the name as typed");
    var notText = kvsh("", "-c", "lock l\\xff");
    assertEquals(1, notText.status());
    assertTrue(notText.err().contains("'l\\xff' is not UTF-8 text"), notText.err());
  }

  @Test
  void badOptionsExitTwo() {
    var out = new ByteArrayOutputStream();
    var err = new ByteArrayOutputStream();
    assertEquals(2, Kvsh.run(new String[] {"--bogus"}, new ByteArrayInputStream(new byte[0]), out, err, false));
    assertTrue(err.toString(StandardCharsets.UTF_8).contains("unknown option '--bogus'"));
    for (var timeout : List.of("1e300", "-1", "0", "NaN", "soon")) {
      var bad = run("--address", address, "--timeout", timeout, "-c", "get sh/timeout");
      assertEquals(2, bad.status(), timeout + ": " + bad.err());
      assertTrue(bad.err().contains("--timeout takes seconds, from 0.001 to 31536000 (a year), got '" + timeout + "'"),
          bad.err());
    }
  }
}
