package dev.kvraft.server.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;

/**
 * Fuzzes config parsing as {@code Main} does it: a properties file of arbitrary text (named by {@code --config=})
 * and arbitrary further arguments, through {@link ServerConfig#fromArgs}. The answer is a config or an
 * {@link IllegalArgumentException} (exit status 2) whose message names what is wrong: a setting, an argument, the
 * config file or a cluster member. Nothing else may escape. An accepted config's cluster must also survive being
 * written back the way the {@code cluster} setting is written and parsed again.
 *
 * <p>Seeds: {@code src/test/resources/dev/kvraft/server/config/ServerConfigFuzzTestInputs/configOrClearError/}.
 * Fuzzing mode: TESTING.md, "Fuzzing".
 */
class ServerConfigFuzzTest {

  @FuzzTest(maxDuration = "2m")
  void configOrClearError(FuzzedDataProvider data) throws IOException {
    int argCount = data.consumeInt(0, 4);
    var args = new ArrayList<String>();
    for (int i = 0; i < argCount; i++) {
      args.add(data.consumeString(40));
    }
    var file = Files.createTempFile("kvraft-config-fuzz", ".properties");
    try {
      Files.write(file, data.consumeRemainingAsString().getBytes(StandardCharsets.UTF_8));
      args.addFirst("--config=" + file);
      ServerConfig config;
      try {
        config = ServerConfig.fromArgs(args.toArray(String[]::new));
      } catch (IllegalArgumentException e) {
        assertNotNull(e.getMessage(), "a config error without a message: " + e);
        assertTrue(namesTheCulprit(e.getMessage()), "a config error that names no setting, argument or file: "
            + e.getMessage());
        return;
      }
      for (var peer : config.cluster()) {
        assertEquals(peer, PeerSpec.parse(peer.toString()), "cluster member " + peer + " does not read back");
      }
    } finally {
      Files.deleteIfExists(file);
    }
  }

  private static boolean namesTheCulprit(String message) {
    if (message.contains("argument") || message.contains("config file") || message.contains("cluster")
        || message.contains("node '") || message.contains("node id")) {
      return true;
    }
    return Settings.ALL.stream().anyMatch(s -> message.contains(s.key()));
  }
}
