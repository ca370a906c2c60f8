/**
 * Users, roles and passwords: {@link dev.kvraft.server.auth.AuthState}, the replicated auth state the database loop
 * owns and publishes as an immutable view for the connection threads, and {@link dev.kvraft.server.auth.Passwords},
 * the PBKDF2 hashes. The checks themselves run in the database loop's auth layer and in the connection.
 */
package dev.kvraft.server.auth;
