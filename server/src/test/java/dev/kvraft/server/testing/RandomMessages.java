package dev.kvraft.server.testing;

import com.google.protobuf.ByteString;
import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.DynamicMessage;
import com.google.protobuf.Message;
import java.util.List;
import java.util.Random;

/**
 * Random protobuf messages of any type, built from its descriptor: each field set or not, one field of each
 * {@code oneof}, values drawn mostly from small pools of edge cases (0, -1, the extremes, empty, "root", a few short
 * keys, enum numbers no value names) so that different messages name the same keys, users and leases. For fuzz tests that must reach deep into a
 * command without knowing its fields; the seed makes a failure repeatable.
 *
 * <p>Not thread-safe: one per test thread.
 */
public final class RandomMessages {
  private static final long[] NUMBERS = {0, 1, 2, 3, 5, 7, 100, -1, -2, Integer.MAX_VALUE, Integer.MIN_VALUE,
      Long.MAX_VALUE, Long.MIN_VALUE, Long.MAX_VALUE - 1, 1L << 32, 1L << 62, 4_000_000_000L};
  private static final List<String> STRINGS = List.of("", "a", "b", "root", "alice", "reader", "k", "a/b", " ",
      "\u00e9t\u00e9", "n1", "n2", "127.0.0.1:7001", "x".repeat(300));
  private static final List<ByteString> BYTES = List.of(ByteString.EMPTY, ByteString.copyFromUtf8("a"),
      ByteString.copyFromUtf8("b"), ByteString.copyFromUtf8("k"), ByteString.copyFromUtf8("k1"),
      ByteString.copyFrom(new byte[] {0}), ByteString.copyFrom(new byte[] {(byte) 0xff}),
      ByteString.copyFrom(new byte[] {'a', (byte) 0xff}), ByteString.copyFrom(new byte[32]),
      ByteString.copyFromUtf8("a; b (c)"));

  private final Random random;
  private final int maxDepth;

  private RandomMessages(Random random, int maxDepth) {
    this.random = random;
    this.maxDepth = maxDepth;
  }

  /** Messages nested at most {@code maxDepth} deep (deeper ones are left empty), from {@code seed}. */
  public static RandomMessages seeded(long seed, int maxDepth) {
    if (maxDepth < 1) {
      throw new IllegalArgumentException("maxDepth must be at least 1, was " + maxDepth);
    }
    return new RandomMessages(new Random(seed), maxDepth);
  }

  /** The test's random source, for choices the test makes itself. */
  public Random random() {
    return random;
  }

  /** A random message of {@code prototype}'s type. */
  @SuppressWarnings("unchecked")
  public <M extends Message> M next(M prototype) {
    var bytes = message(prototype.getDescriptorForType(), 1).toByteString();
    try {
      return (M) prototype.getParserForType().parseFrom(bytes);
    } catch (com.google.protobuf.InvalidProtocolBufferException e) {
      throw new AssertionError("a message built from its own descriptor must parse", e);
    }
  }

  /** One of the pooled keys (as the messages' bytes fields use). */
  public ByteString key() {
    return BYTES.get(random.nextInt(BYTES.size()));
  }

  private DynamicMessage message(Descriptor type, int depth) {
    var b = DynamicMessage.newBuilder(type);
    for (var oneof : type.getRealOneofs()) {
      var fields = oneof.getFields();
      var f = fields.get(random.nextInt(fields.size()));
      set(b, f, depth);
    }
    for (var f : type.getFields()) {
      if (f.getRealContainingOneof() == null && random.nextInt(3) > 0) {
        set(b, f, depth);
      }
    }
    return b.build();
  }

  private void set(DynamicMessage.Builder b, FieldDescriptor f, int depth) {
    if (f.getJavaType() == FieldDescriptor.JavaType.MESSAGE && depth >= maxDepth) {
      return;
    }
    if (f.isRepeated()) {
      for (int i = random.nextInt(4); i > 0; i--) {
        b.addRepeatedField(f, value(f, depth));
      }
    } else {
      b.setField(f, value(f, depth));
    }
  }

  private Object value(FieldDescriptor f, int depth) {
    return switch (f.getJavaType()) {
      case INT -> (int) number();
      case LONG -> number();
      case BOOLEAN -> random.nextBoolean();
      case FLOAT -> (float) number();
      case DOUBLE -> (double) number();
      case STRING -> random.nextInt(8) == 0 ? randomString() : STRINGS.get(random.nextInt(STRINGS.size()));
      case BYTE_STRING -> random.nextInt(8) == 0 ? randomBytes() : key();
      case ENUM -> {
        var values = f.getEnumType().getValues();
        // Now and then a number the enum does not name (a newer or hostile sender's): read as UNRECOGNIZED.
        yield random.nextInt(8) == 0 ? f.getEnumType().findValueByNumberCreatingIfUnknown((int) number())
            : values.get(random.nextInt(values.size()));
      }
      case MESSAGE -> message(f.getMessageType(), depth + 1);
    };
  }

  private long number() {
    return switch (random.nextInt(4)) {
      case 0 -> random.nextInt(64);
      case 1 -> random.nextLong();
      default -> NUMBERS[random.nextInt(NUMBERS.length)];
    };
  }

  private String randomString() {
    var s = new StringBuilder();
    for (int i = random.nextInt(12); i > 0; i--) {
      s.append((char) (' ' + random.nextInt(95)));
    }
    return s.toString();
  }

  private ByteString randomBytes() {
    var bytes = new byte[random.nextInt(12)];
    random.nextBytes(bytes);
    return ByteString.copyFrom(bytes);
  }
}
