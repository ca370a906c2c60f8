package dev.kvraft.server.raft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kvraft.proto.Error;
import dev.kvraft.server.KvraftServer;
import dev.kvraft.server.testing.TestNodes;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RaftNodeTest {
  /**
   * A membership change this node stopped waiting for goes on in Raft (a slow catch-up of the new node is not a
   * failure to Ratis) and may commit later: the operator is told to look before trying again,
   * not that nothing changed.
   */
  @Test
  void aMembershipChangeThatTimedOutSaysItMayStillCommitAndWhatToDo() {
    var e = RaftNode.changeTimedOut(5000);
    assertEquals(Error.Code.TIMEOUT, e.code());
    assertFalse(e.getMessage().contains("unchanged"), e.getMessage());
    assertTrue(e.getMessage().contains("may still commit") && e.getMessage().contains("member list"),
        e.getMessage());
  }

  /** A Raft port in use stops the node with a message naming the port and the cause, as the client port's does. */
  @Test
  void aRaftPortInUseIsNamed(@TempDir Path dir) throws IOException {
    var config = TestNodes.single(dir);
    var peer = config.self().peerAddress();
    try (var taken = new ServerSocket(config.self().peerPort(), 1, InetAddress.getByName("127.0.0.1"))) {
      var e = org.junit.jupiter.api.Assertions.assertThrows(IOException.class, () -> KvraftServer.start(config));
      assertTrue(e.getMessage().contains("cannot listen for Raft peers on " + peer + ": ")
          && e.getMessage().contains("Address already in use"), e.getMessage());
    }
  }
}
