package dev.kvraft.server.net;

import dev.kvraft.server.backup.BackupFiles;
import dev.kvraft.server.config.ServerConfig;
import dev.kvraft.server.db.CommandSink;

/**
 * The node's services every client connection shares: built once by {@link ClientListener}, handed to each
 * {@link ClientConnection}, which passes it on to the {@link RequestHandler} it makes after the handshake.
 *
 * <p>Who owns what: an immutable value, safe on any thread; it owns none of what it names. Each service keeps its own
 * rules (the loop's queue and {@link Members} take any thread; {@link ConnectionAuth}'s hashing threads are the
 * listener's, which closes them at stop).
 *
 * @param loop the database loop's queue, where requests go and closed connections are reported
 * @param config the node's settings
 * @param validator checks each request against the limits
 * @param members which connections may send forwarded requests and ReadIndex
 * @param backups where BackupChunk reads from, or null when this node makes no backups
 * @param auth authentication, certificate users and password hashing
 */
record ConnectionServices(CommandSink loop, ServerConfig config, RequestValidator validator, Members members,
    BackupFiles backups, ConnectionAuth auth) {
}
