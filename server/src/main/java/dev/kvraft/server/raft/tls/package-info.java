/**
 * kvraft's Raft transport with mutual TLS: a Ratis {@code RpcType} ({@link
 * dev.kvraft.server.raft.tls.TlsNettyRpcType}, selected by class name in {@code raft.rpc.type})
 * whose factory makes a server RPC and a client RPC that speak Ratis's Netty wire format
 * (varint-framed {@code RaftNettyServerRequestProto}/{@code ReplyProto}) inside TLS 1.3/1.2, on the
 * Netty shaded in ratis-thirdparty. Ratis 3.3.0's own Netty transport has no TLS and no way to add
 * a handler to its pipeline, hence this package.
 *
 * <p>Authentication, both ways, before any Raft message is processed:
 * <ul>
 *   <li>Every certificate must chain to {@code tls.ca.file} (the SslHandler refuses the handshake
 *       otherwise; a plaintext client fails the handshake too).</li>
 *   <li>Dialing peer X, the client side checks that the server's certificate names X (SAN DNS or
 *       CN); otherwise it closes the connection and sends nothing.</li>
 *   <li>Accepting, the server requires a client certificate that names a member of one of its Raft
 *       groups, and every server-to-server request on that channel (vote, append, snapshot,
 *       start-election) must carry a requestor id the certificate names.</li>
 * </ul>
 * A refusal closes the channel and logs one WARN line with the remote address and the identity it
 * presented. After a configuration change applies, or comes with a snapshot installed from the leader,
 * {@code TlsNettyTransport.membershipChanged()} closes the open channels, both ways, of peers that are no longer
 * members.
 *
 * <p>The TLS material ({@link dev.kvraft.server.raft.tls.TlsSettings}: cert, PKCS#8 key, CA bundle,
 * all PEM) lives in a {@link dev.kvraft.server.raft.tls.TlsNettyTransport}, handed to Ratis
 * through its {@code Parameters}; {@code reload()} re-reads the files for connections made later.
 */
package dev.kvraft.server.raft.tls;
