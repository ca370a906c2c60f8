package dev.kvraft.server.log;

import java.io.PrintStream;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import org.slf4j.Marker;
import org.slf4j.event.Level;
import org.slf4j.helpers.LegacyAbstractLogger;
import org.slf4j.helpers.MessageFormatter;

/**
 * Writes each event as exactly one line to stderr, so journald keeps it whole:
 * {@code 2026-11-26T05:00:23.991Z WARN  [thread] Logger: message | IOException: reason <- ConnectException: refused}.
 * An exception is folded onto the same line as its type and message and those of its causes, never a stack trace.
 */
final class OneLineLogger extends LegacyAbstractLogger {
  private final String shortName;
  private final Level threshold;
  private final PrintStream out;

  OneLineLogger(String name, Level threshold, PrintStream out) {
    this.name = name;
    this.shortName = name.substring(name.lastIndexOf('.') + 1);
    this.threshold = threshold;
    this.out = out;
  }

  private boolean enabled(Level level) {
    return threshold != null && level.toInt() >= threshold.toInt();
  }

  @Override
  public boolean isTraceEnabled() {
    return enabled(Level.TRACE);
  }

  @Override
  public boolean isDebugEnabled() {
    return enabled(Level.DEBUG);
  }

  @Override
  public boolean isInfoEnabled() {
    return enabled(Level.INFO);
  }

  @Override
  public boolean isWarnEnabled() {
    return enabled(Level.WARN);
  }

  @Override
  public boolean isErrorEnabled() {
    return enabled(Level.ERROR);
  }

  @Override
  protected String getFullyQualifiedCallerName() {
    return null;
  }

  @Override
  protected void handleNormalizedLoggingCall(Level level, Marker marker, String pattern, Object[] args,
      Throwable throwable) {
    if (!enabled(level)) {
      return;
    }
    var formatted = MessageFormatter.basicArrayFormat(pattern, args);
    var sb = new StringBuilder(160)
        .append(Instant.now().truncatedTo(ChronoUnit.MILLIS))
        .append(' ')
        .append(String.format("%-5s", level.name()))
        .append(" [").append(Thread.currentThread().getName()).append("] ")
        .append(shortName).append(": ")
        .append(oneLine(formatted));
    if (throwable != null) {
      sb.append(" | ");
      var seen = 0;
      for (Throwable t = throwable; t != null && seen < 5; t = t.getCause(), seen++) {
        if (seen > 0) {
          sb.append(" <- ");
        }
        sb.append(t.getClass().getSimpleName());
        if (t.getMessage() != null) {
          sb.append(": ").append(oneLine(t.getMessage()));
        }
      }
    }
    out.println(sb);
  }

  private static String oneLine(String s) {
    return s == null ? "null" : s.replace('\n', ' ').replace('\r', ' ');
  }
}
