package dev.kvraft.server.metrics;

import com.google.gson.JsonElement;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;

/** The Grafana dashboard shipped in systemd/monitoring/, parsed as JSON (so a syntax error fails the test). */
record Dashboard(Set<String> exprs) {
  static final Path FILE = Path.of("..", "systemd", "monitoring", "grafana-dashboard.json");
  /** Metric names in PromQL: kvraft's, Ratis's, the JVM's and the process's. */
  private static final Pattern SERIES = Pattern.compile("\\b(?:kvraft|ratis|jvm|process)_[A-Za-z0-9_]+");

  static Dashboard load() throws IOException {
    var root = JsonParser.parseString(Files.readString(FILE));
    var exprs = new TreeSet<String>();
    collect(root, exprs);
    return new Dashboard(exprs);
  }

  private static void collect(JsonElement e, Set<String> exprs) {
    if (e.isJsonObject()) {
      for (var entry : e.getAsJsonObject().entrySet()) {
        if (entry.getKey().equals("expr") && entry.getValue().isJsonPrimitive()) {
          exprs.add(entry.getValue().getAsString());
        } else {
          collect(entry.getValue(), exprs);
        }
      }
    } else if (e.isJsonArray()) {
      e.getAsJsonArray().forEach(x -> collect(x, exprs));
    }
  }

  /** Every metric name the queries use. */
  Set<String> seriesNames() {
    var names = new TreeSet<String>();
    for (var expr : exprs) {
      var m = SERIES.matcher(expr);
      while (m.find()) {
        names.add(m.group());
      }
    }
    return names;
  }
}
