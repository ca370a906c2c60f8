/**
 * A kvraft node: {@link dev.kvraft.server.Main} parses the command line and runs a
 * {@link dev.kvraft.server.KvraftServer}, which starts the database loop, Ratis and the client listener in order and
 * stops them in reverse.
 */
package dev.kvraft.server;
