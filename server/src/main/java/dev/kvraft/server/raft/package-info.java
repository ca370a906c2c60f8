/**
 * The Ratis glue: the {@code RaftServer} over Netty and the thin state machine that hands committed entries to the
 * database loop. With its {@code tls} subpackage, the only package that imports Ratis, but for
 * {@link dev.kvraft.server.metrics.RatisBridge}, which reads Ratis's metric registries.
 */
package dev.kvraft.server.raft;
