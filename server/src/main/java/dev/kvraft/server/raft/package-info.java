/**
 * The Ratis glue: the {@code RaftServer} over Netty and the thin state machine that hands committed entries to the
 * database loop. The only package that imports Ratis.
 */
package dev.kvraft.server.raft;
