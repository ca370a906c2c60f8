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
    assertEquals("scan", commands.find("ls").orElseThrow().name());
    assertEquals("del", commands.find("rm").orElseThrow().name());
    assertEquals("put", commands.find("SET").orElseThrow().name());
  }

  @Test
  void everyCommandIsDocumentedAndNamesAreUnique() {
    var seen = new HashSet<String>();
    for (var c : commands.all()) {
      assertTrue(seen.add(c.name()), "duplicate " + c.name());
      c.aliases().forEach(a -> assertTrue(seen.add(a), "duplicate alias " + a));
      assertTrue(!c.summary().isBlank() && !c.example().isBlank(), c.name());
      assertTrue(c.example().startsWith(c.name()), "the example of " + c.name() + " runs it");
    }
  }
}
