/**
 * The kvraft client library: {@link dev.kvraft.client.KvClient}, pipelined connections, failover, and one exception
 * type per protocol error code.
 */
package dev.kvraft.client;
