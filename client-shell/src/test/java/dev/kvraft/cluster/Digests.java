package dev.kvraft.cluster;

import com.google.protobuf.ByteString;
import dev.kvraft.client.KvClient;
import dev.kvraft.proto.Consistency;
import dev.kvraft.proto.Scan;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;

/** A digest of one node's whole state, read from that node's own copy (STALE scans, paged). */
final class Digests {
  private Digests() {}

  record NodeState(long revision, long keys, String digest) {}

  static NodeState of(String address) {
    try (var c = KvClient.builder().addresses(address).discoverMembers(false).timeout(Duration.ofSeconds(10))
        .build()) {
      var md = MessageDigest.getInstance("SHA-256");
      long keys = 0;
      long revision = c.status().getRevision();
      var start = ByteString.EMPTY;
      while (true) {
        var page = c.scan(Scan.newBuilder().setStart(start).setConsistency(Consistency.STALE).build());
        for (var kv : page.getKvsList()) {
          md.update(kv.getKey().toByteArray());
          md.update((byte) 0);
          md.update(kv.getValue().toByteArray());
          md.update(Long.toString(kv.getModRevision()).getBytes());
          keys++;
        }
        if (!page.getMore()) {
          break;
        }
        start = page.getKvs(page.getKvsCount() - 1).getKey().concat(ByteString.copyFrom(new byte[] {0}));
      }
      return new NodeState(revision, keys, HexFormat.of().formatHex(md.digest()));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
