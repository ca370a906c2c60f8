package dev.kvraft.cluster;

import dev.kvraft.client.KvClient;

/**
 * A separate process that takes a lock and holds it until it is killed: {@code LockHolder ADDRESSES NAME TTL}.
 * Prints {@code locked REVISION} once it holds it.
 */
public final class LockHolder {
  private LockHolder() {}

  public static void main(String[] args) throws Exception {
    var client = KvClient.builder().addresses(args[0].split(",")).build();
    var lock = client.lock(args[1], Long.parseLong(args[2]));
    System.out.println("locked " + lock.revision());
    System.out.flush();
    Thread.sleep(Long.MAX_VALUE); // held until SIGKILL
  }
}
