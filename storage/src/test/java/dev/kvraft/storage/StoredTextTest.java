package dev.kvraft.storage;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The texts stored in kind, op and result are the ones storage/README.md documents for sqlite3 queries. */
class StoredTextTest {
  private static List<String> sql(Enum<?>[] values) {
    return Arrays.stream(values).map(Object::toString).toList();
  }

  @Test
  void entryKinds() {
    assertEquals(List.of("normal", "configuration", "metadata", "snapshot-install", "rejected"), sql(EntryKind.values()));
    assertEquals(Arrays.stream(EntryKind.values()).map(EntryKind::sql).toList(), sql(EntryKind.values()));
  }

  @Test
  void opKinds() {
    assertEquals(List.of("put", "delete", "delete-range", "txn"),
        Arrays.stream(OpKind.values()).map(OpKind::sql).toList());
  }

  @Test
  void opOutcomes() {
    assertEquals(List.of("created", "updated", "deleted", "not found", "compare succeeded", "compare failed"),
        Arrays.stream(OpOutcome.values()).map(OpOutcome::sql).toList());
  }
}
