package dev.kvraft.client;

import dev.kvraft.proto.Error;

/**
 * A request failed. There is one subclass per error code of the protocol, so callers catch what they can act on:
 * {@link UnavailableException} (retry, maybe elsewhere), {@link KvTimeoutException} (outcome unknown),
 * {@link OverloadedException} (back off), {@link InvalidArgumentException} and {@link TooLargeException} (fix the
 * request), {@link InternalException} (report it).
 */
public sealed class KvException extends RuntimeException
    permits InvalidArgumentException, TooLargeException, UnavailableException, KvTimeoutException,
        OverloadedException, InternalException, PermissionDeniedException, ConflictException,
        UnauthenticatedException, ResourceExhaustedException, CompactedException, LeaseNotFoundException {
  private final Error.Code code;
  private final String leaderAddress;

  KvException(Error.Code code, String message, String leaderAddress) {
    super(message);
    this.code = code;
    this.leaderAddress = leaderAddress == null ? "" : leaderAddress;
  }

  KvException(Error.Code code, String message, Throwable cause) {
    super(message, cause);
    this.code = code;
    this.leaderAddress = "";
  }

  public Error.Code code() {
    return code;
  }

  /** The leader's client address when the server named one, else empty. */
  public String leaderAddress() {
    return leaderAddress;
  }

  /** The exception for a server's {@link Error}. */
  public static KvException of(Error e) {
    var msg = e.getMessage().isEmpty() ? e.getCode().name() : e.getMessage();
    return switch (e.getCode()) {
      case INVALID_ARGUMENT -> new InvalidArgumentException(msg);
      case TOO_LARGE -> new TooLargeException(msg);
      case UNAVAILABLE -> new UnavailableException(msg, e.getLeaderAddress());
      case TIMEOUT -> new KvTimeoutException(msg);
      case OVERLOADED -> new OverloadedException(msg);
      case PERMISSION_DENIED -> new PermissionDeniedException(msg);
      case CONFLICT -> new ConflictException(msg);
      case UNAUTHENTICATED -> new UnauthenticatedException(msg);
      case RESOURCE_EXHAUSTED -> new ResourceExhaustedException(msg);
      case COMPACTED -> new CompactedException(msg, e.getCompactRevision());
      case LEASE_NOT_FOUND -> new LeaseNotFoundException(msg);
      case INTERNAL, UNKNOWN, UNRECOGNIZED -> new InternalException(e.getCode() + ": " + msg);
    };
  }
}
