package dev.kvraft.server.log;

import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.ILoggerFactory;
import org.slf4j.Logger;
import org.slf4j.event.Level;

/**
 * Makes {@link OneLineLogger}s. Levels come from system properties: {@code kvraft.log.level} (default INFO) for
 * everything, and {@code kvraft.log.level.PREFIX} for loggers whose name starts with PREFIX, e.g.
 * {@code -Dkvraft.log.level.org.apache.ratis=info}; OFF silences. Ratis defaults to WARN (its INFO is chatty),
 * and its LifeCycle logger to OFF (it reports every failed reconnect to a down peer).
 */
final class OneLineLoggerFactory implements ILoggerFactory {
  private final Map<String, Logger> loggers = new ConcurrentHashMap<>();

  @Override
  public Logger getLogger(String name) {
    return loggers.computeIfAbsent(name, n -> new OneLineLogger(n, levelFor(n), System.err));
  }

  /** The threshold, or null for OFF. */
  static Level levelFor(String name) {
    String best = null;
    String bestPrefix = "";
    for (var key : System.getProperties().stringPropertyNames()) {
      if (key.startsWith("kvraft.log.level.")) {
        var prefix = key.substring("kvraft.log.level.".length());
        if (name.startsWith(prefix) && prefix.length() > bestPrefix.length()) {
          bestPrefix = prefix;
          best = System.getProperty(key);
        }
      }
    }
    if (best == null && name.equals("org.apache.ratis.util.LifeCycle")) {
      // Logs every failed reconnect to a down peer, several a second, as WARN and ERROR: noise, not news.
      best = "OFF";
    }
    if (best == null && name.startsWith("org.apache.ratis")) {
      best = "WARN";
    }
    if (best == null) {
      best = System.getProperty("kvraft.log.level", "INFO");
    }
    if (best.strip().equalsIgnoreCase("OFF")) {
      return null;
    }
    try {
      return Level.valueOf(best.strip().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      return Level.INFO;
    }
  }
}
