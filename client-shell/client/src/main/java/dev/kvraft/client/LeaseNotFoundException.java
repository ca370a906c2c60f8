package dev.kvraft.client;

import dev.kvraft.proto.Error;

/** The lease named does not exist: it expired, was revoked, or never was. */
public final class LeaseNotFoundException extends KvException {
  public LeaseNotFoundException(String message) {
    super(Error.Code.LEASE_NOT_FOUND, message, "");
  }
}
