/**
 * The wire contract: the messages generated from {@code kv.proto} and {@code log.proto}, and the few classes the
 * server and the client share so that both read the protocol the same way: {@link dev.kvraft.proto.CommandKind},
 * {@link dev.kvraft.proto.DelimitedReader}, {@link dev.kvraft.proto.HostPort}, {@link dev.kvraft.proto.PemTls} and
 * {@link dev.kvraft.proto.Permissions}.
 */
package dev.kvraft.proto;
