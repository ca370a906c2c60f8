package dev.kvraft.server.net;

import static org.junit.jupiter.api.Assertions.*;

import dev.kvraft.proto.Authenticate;
import dev.kvraft.proto.Error;
import dev.kvraft.proto.Request;
import dev.kvraft.server.auth.AuthState;
import dev.kvraft.server.auth.Passwords;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The connection side of auth against a flood of password guesses. */
@Timeout(60)
class ConnectionAuthTest {
  @Test
  void guessesSentAtOnceFromOneAddressCostOnlyTheHashesBeforeItsLockout() throws Exception {
    var view = new AuthState.View(true, Map.of("alice", Passwords.hash("right")), Map.of("alice", List.of()));
    var auth = new ConnectionAuth(() -> view, true, System::nanoTime);
    var from = InetAddress.getByName("192.0.2.7");
    int attempts = 16; // one per connection, all arriving before the first hash ends
    var go = new CountDownLatch(1);
    var answers = new ArrayList<Future<Error>>();
    // Virtual threads, as the server's connections: the hashes run on the hashing threads, so every attempt reaches
    // the first lockout check at once.
    try (auth; var threads = Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name("test-guess-", 0).factory())) {
      for (int i = 0; i < attempts; i++) {
        long id = i + 1;
        answers.add(threads.submit(() -> {
          go.await();
          var r = Request.newBuilder().setId(id)
              .setAuthenticate(Authenticate.newBuilder().setUser("alice").setPassword("guess " + id)).build();
          return auth.authenticate(r, from).response().getError();
        }));
      }
      go.countDown();
    }
    int checked = 0;
    int refusedUnchecked = 0;
    for (var f : answers) {
      var e = get(f);
      assertEquals(Error.Code.UNAUTHENTICATED, e.getCode(), e.toString());
      if (e.getMessage().startsWith("authentication failed")) {
        checked++;
      } else {
        assertTrue(e.getMessage().startsWith("too many failed authentications from 192.0.2.7"), e.getMessage());
        refusedUnchecked++;
      }
    }
    // Each checked guess cost a slow hash, and every other client's Authenticate waited for a slot behind it.
    assertTrue(checked <= ConnectionAuth.FREE_FAILURES + ConnectionAuth.CONCURRENT_HASHES - 1,
        checked + " of " + attempts + " guesses from one address were checked; the rest came after its lockout");
    assertEquals(attempts - checked, refusedUnchecked);
  }

  /**
   * A password change from a user without the root role (or from no user) is refused on the connection, before
   * its slow hash: else anyone could keep the hashing threads, and every login waiting behind them, busy with
   * changes the loop refuses anyway (found by review). Root's own change is hashed as before.
   */
  @Test
  void aPasswordChangeFromANonRootUserIsRefusedBeforeItsHash() throws Exception {
    var view = new AuthState.View(true, Map.of("alice", "x", "root", "y"),
        Map.of("alice", List.of(), "root", List.of(AuthState.ROOT)));
    var from = InetAddress.getLoopbackAddress();
    try (var auth = new ConnectionAuth(() -> view, true, System::nanoTime)) {
      for (var user : List.of("alice", "", "gone")) {
        var r = passwordChange(user);
        var e = assertThrows(ConnectionAuth.Refused.class, () -> auth.hashPassword(r, from), "user '" + user + "'");
        // As the loop would answer: a user without the role is denied, no user (or an unknown one) unauthenticated.
        assertEquals(user.equals("alice") ? Error.Code.PERMISSION_DENIED : Error.Code.UNAUTHENTICATED, e.code,
            e.getMessage());
        assertTrue(e.getMessage().contains("root role"), e.getMessage());
      }
      var hashed = auth.hashPassword(passwordChange("root"), from).getAuthChange();
      assertTrue(hashed.getPassword().isEmpty() && !hashed.getPasswordHash().isEmpty(), hashed.toString());
    }
  }

  private static Request passwordChange(String by) {
    return Request.newBuilder().setId(1).setUser(by).setAuthChange(dev.kvraft.proto.AuthChange.newBuilder()
        .setAction(dev.kvraft.proto.AuthChange.Action.USER_PASSWORD).setName("bob").setPassword("new-pw")).build();
  }

  private static Error get(Future<Error> f) throws InterruptedException, ExecutionException {
    return f.get();
  }

  /**
   * The client port closes (shutdown) while attempts wait in line for a hashing thread: each waiting connection's
   * reader must return, not wait forever for a hash that the closed executor dropped from its queue.
   */
  @Test
  void attemptsWaitingForAHashReturnWhenClosed() throws Exception {
    var view = new AuthState.View(true, Map.of("alice", Passwords.hash("right")), Map.of("alice", List.of()));
    var auth = new ConnectionAuth(() -> view, true, System::nanoTime);
    var answers = new ArrayList<Future<?>>();
    var threads = Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name("test-close-", 0).factory());
    try {
      for (int i = 0; i < 12; i++) {
        long id = i + 1;
        var from = InetAddress.getByName("192.0.2." + (10 + i)); // no lockout: every attempt wants a hash
        answers.add(threads.submit(() -> {
          var r = Request.newBuilder().setId(id)
              .setAuthenticate(Authenticate.newBuilder().setUser("alice").setPassword("guess " + id)).build();
          return auth.authenticate(r, from);
        }));
      }
      Thread.sleep(100); // two hash, the rest wait in line
      auth.close();
      for (var f : answers) {
        try {
          f.get(10, java.util.concurrent.TimeUnit.SECONDS);
        } catch (ExecutionException expected) {
          // refused because the port closed: fine, as long as it returns
        } catch (java.util.concurrent.TimeoutException e) {
          fail("an Authenticate waiting for a hashing thread never returned after close()");
        }
      }
    } finally {
      threads.shutdownNow();
    }
  }
}
