package dev.kvraft.shell;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class CommandsTest {
  private final Commands commands = Commands.standard();

  @Test
  void suggestsTheClosestCommand() {
    assertEquals(Optional.of("get"), commands.closest("gte"));
    assertEquals(Optional.of("scan"), commands.closest("sacn"));
    assertEquals(Optional.of("status"), commands.closest("stauts"));
    assertEquals(Optional.empty(), commands.closest("xyzzyplugh"));
  }

  @Test
  void aliasesFindTheirCommand() {
    assertEquals("scan", commands.find("ls").orElseThrow().spec().name());
    assertEquals("del", commands.find("rm").orElseThrow().spec().name());
    assertEquals("put", commands.find("SET").orElseThrow().spec().name());
  }

  @Test
  void everyCommandIsDocumentedAndNamesAreUnique() {
    var seen = new HashSet<String>();
    for (var c : commands.all()) {
      assertTrue(seen.add(c.spec().name()), "duplicate " + c.spec().name());
      c.spec().aliases().forEach(a -> assertTrue(seen.add(a), "duplicate alias " + a));
      assertTrue(!c.spec().summary().isBlank() && !c.spec().example().isBlank(), c.spec().name());
      assertTrue(c.spec().example().startsWith(c.spec().name()), "the example of " + c.spec().name() + " runs it");
    }
  }
}
