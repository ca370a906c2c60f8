package dev.kvraft.server.auth;

import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Base64;
import javax.crypto.SecretKeyFactory;
import javax.crypto.spec.PBEKeySpec;

/**
 * Password hashes: PBKDF2-HMAC-SHA256 from the JDK, {@value #ITERATIONS} iterations (OWASP's figure), a 16-byte
 * random salt, 32 bytes of output, stored as {@code pbkdf2-sha256$ITERATIONS$SALT$HASH} (base64). Slow on purpose:
 * about 150 ms of one core here, so it runs on a connection's thread, never on the database loop. Stateless.
 */
public final class Passwords {
  static final int ITERATIONS = 600_000;
  private static final String SCHEME = "pbkdf2-sha256";
  private static final SecureRandom RANDOM = new SecureRandom();
  /** Verified when the user does not exist, so that a wrong name takes as long as a wrong password. */
  private static final String DUMMY = hash("not a password of anyone");

  private Passwords() {}

  /** A new salted hash of {@code password}. */
  public static String hash(String password) {
    var salt = new byte[16];
    RANDOM.nextBytes(salt);
    var b64 = Base64.getEncoder().withoutPadding();
    return SCHEME + "$" + ITERATIONS + "$" + b64.encodeToString(salt) + "$"
        + b64.encodeToString(derive(password, salt, ITERATIONS));
  }

  /** Whether {@code password} matches {@code encoded}; a null or empty {@code encoded} never matches (but costs as much). */
  public static boolean verify(String password, String encoded) {
    var parts = (encoded == null || encoded.isEmpty() ? DUMMY : encoded).split("\\$");
    if (parts.length != 4 || !parts[0].equals(SCHEME)) {
      return false;
    }
    int iterations;
    try {
      iterations = Integer.parseInt(parts[1]);
    } catch (NumberFormatException e) {
      return false;
    }
    var b64 = Base64.getDecoder();
    var expected = b64.decode(parts[3]);
    var got = derive(password, b64.decode(parts[2]), iterations);
    return MessageDigest.isEqual(expected, got) && encoded != null && !encoded.isEmpty();
  }

  /** Whether {@code s} looks like a hash this class made (what a member may forward). */
  public static boolean isHash(String s) {
    var parts = s.split("\\$");
    return parts.length == 4 && parts[0].equals(SCHEME) && parts[1].matches("[0-9]{1,8}");
  }

  private static byte[] derive(String password, byte[] salt, int iterations) {
    try {
      var spec = new PBEKeySpec(password.toCharArray(), salt, iterations, 256);
      try {
        return SecretKeyFactory.getInstance("PBKDF2WithHmacSHA256").generateSecret(spec).getEncoded();
      } finally {
        spec.clearPassword();
      }
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("this JDK has no PBKDF2WithHmacSHA256", e);
    }
  }
}
