package dev.kvraft.server.raft.tls;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.apache.ratis.thirdparty.io.netty.buffer.ByteBuf;
import org.apache.ratis.thirdparty.io.netty.buffer.Unpooled;
import org.apache.ratis.thirdparty.io.netty.channel.embedded.EmbeddedChannel;
import org.apache.ratis.thirdparty.io.netty.handler.codec.DecoderException;
import org.junit.jupiter.api.Test;

class BoundedVarintFrameDecoderTest {
  @Test
  void splitsFramesDeliveredInPieces() {
    var ch = new EmbeddedChannel(new BoundedVarintFrameDecoder(1000));
    var payload = new byte[300];
    payload[299] = 7;
    // 300 = varint 0xAC 0x02
    ch.writeInbound(Unpooled.wrappedBuffer(new byte[] {(byte) 0xAC}));
    assertNull(ch.readInbound());
    ch.writeInbound(Unpooled.wrappedBuffer(new byte[] {0x02}), Unpooled.wrappedBuffer(payload, 0, 100));
    assertNull(ch.readInbound());
    ch.writeInbound(Unpooled.wrappedBuffer(payload, 100, 200));
    ByteBuf frame = ch.readInbound();
    var got = new byte[frame.readableBytes()];
    frame.readBytes(got);
    frame.release();
    assertArrayEquals(payload, got);
    ch.finishAndReleaseAll();
  }

  @Test
  void refusesAFrameLongerThanTheLimitBeforeBufferingIt() {
    var ch = new EmbeddedChannel(new BoundedVarintFrameDecoder(1000));
    // 1001 = varint 0xE9 0x07
    assertThrows(DecoderException.class, () -> ch.writeInbound(Unpooled.wrappedBuffer(new byte[] {(byte) 0xE9, 0x07})));
    assertNull(ch.readInbound(), "no frame may come out of an over-long prefix");
    ch.finishAndReleaseAll();
  }
}
