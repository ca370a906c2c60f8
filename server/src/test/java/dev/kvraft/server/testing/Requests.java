package dev.kvraft.server.testing;

import com.google.protobuf.ByteString;
import dev.kvraft.proto.Consistency;
import dev.kvraft.proto.Delete;
import dev.kvraft.proto.Get;
import dev.kvraft.proto.Put;
import dev.kvraft.proto.Request;
import dev.kvraft.proto.Scan;

/** Short builders for requests in tests. */
public final class Requests {
  private Requests() {}

  public static ByteString b(String s) {
    return ByteString.copyFromUtf8(s);
  }

  public static Request put(long id, String key, String value) {
    return Request.newBuilder().setId(id).setPut(Put.newBuilder().setKey(b(key)).setValue(b(value))).build();
  }

  public static Request get(long id, String key) {
    return Request.newBuilder().setId(id).setGet(Get.newBuilder().setKey(b(key))).build();
  }

  public static Request staleGet(long id, String key) {
    return Request.newBuilder().setId(id)
        .setGet(Get.newBuilder().setKey(b(key)).setConsistency(Consistency.STALE)).build();
  }

  public static Request delete(long id, String key, String rangeEnd) {
    return Request.newBuilder().setId(id)
        .setDelete(Delete.newBuilder().setKey(b(key)).setRangeEnd(b(rangeEnd)).setPrevKv(true)).build();
  }

  public static Request scan(long id, String start, String end, int limit) {
    return Request.newBuilder().setId(id)
        .setScan(Scan.newBuilder().setStart(b(start)).setEnd(b(end)).setLimit(limit)).build();
  }
}
