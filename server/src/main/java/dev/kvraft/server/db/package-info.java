/**
 * The database loop and the state it owns: the single thread that holds the key-value map and every pending
 * request, batches writes into Raft entries, batches reads behind one barrier, and applies committed entries. It
 * talks to Raft only through {@link dev.kvraft.server.db.Consensus} and to the leader only through
 * {@link dev.kvraft.server.db.Forwarder}, so it holds no Ratis types.
 */
package dev.kvraft.server.db;
