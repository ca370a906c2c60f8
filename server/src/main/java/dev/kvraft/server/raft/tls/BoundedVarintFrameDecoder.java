package dev.kvraft.server.raft.tls;

import java.util.List;
import org.apache.ratis.thirdparty.io.netty.buffer.ByteBuf;
import org.apache.ratis.thirdparty.io.netty.channel.ChannelHandlerContext;
import org.apache.ratis.thirdparty.io.netty.handler.codec.ByteToMessageDecoder;
import org.apache.ratis.thirdparty.io.netty.handler.codec.TooLongFrameException;

/**
 * Splits varint32-length-prefixed frames (the Ratis Netty framing) and refuses any frame longer
 * than {@code maxFrameBytes} before buffering it, so a peer cannot make this side hold an unbounded
 * frame. Per channel; used only on its event loop.
 */
final class BoundedVarintFrameDecoder extends ByteToMessageDecoder {
  private final int maxFrameBytes;

  BoundedVarintFrameDecoder(int maxFrameBytes) {
    if (maxFrameBytes <= 0) {
      throw new IllegalArgumentException("maxFrameBytes must be positive, not " + maxFrameBytes);
    }
    this.maxFrameBytes = maxFrameBytes;
  }

  @Override
  protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) throws TooLongFrameException {
    in.markReaderIndex();
    int length = 0;
    for (int shift = 0; ; shift += 7) {
      if (!in.isReadable()) {
        in.resetReaderIndex();
        return;
      }
      byte b = in.readByte();
      length |= (b & 0x7f) << shift;
      if (b >= 0) {
        break;
      }
      if (shift >= 28) {
        throw new TooLongFrameException("Raft frame length prefix is not a varint32");
      }
    }
    if (length < 0 || length > maxFrameBytes) {
      throw new TooLongFrameException("Raft frame of " + (length & 0xffffffffL) + " bytes exceeds the limit of "
          + maxFrameBytes + " bytes");
    }
    if (in.readableBytes() < length) {
      in.resetReaderIndex();
      return;
    }
    out.add(in.readRetainedSlice(length));
  }
}
