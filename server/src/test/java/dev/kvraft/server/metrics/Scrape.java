package dev.kvraft.server.metrics;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/** Test helper: GETs a metrics endpoint and reads sample values out of the Prometheus text format. */
public record Scrape(int status, String body) {
  private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

  public static Scrape get(int port, String path) throws IOException, InterruptedException {
    var response = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
        .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
    return new Scrape(response.statusCode(), response.body());
  }

  /** Every sample line as series (name with labels, as written) to value. */
  public Map<String, Double> samples() {
    var map = new TreeMap<String, Double>();
    for (var line : body.split("\n")) {
      if (line.isBlank() || line.startsWith("#")) {
        continue;
      }
      int space = line.lastIndexOf(' ');
      map.put(line.substring(0, space), Double.parseDouble(line.substring(space + 1)));
    }
    return map;
  }

  /** The value of one series, written exactly as in the exposition (e.g. {@code a_total{command="put"}}). */
  public Optional<Double> value(String series) {
    return Optional.ofNullable(samples().get(series));
  }

  /** The names of every sample (without labels), e.g. {@code kvraft_request_duration_seconds_bucket}. */
  public java.util.Set<String> names() {
    var names = new java.util.TreeSet<String>();
    samples().keySet().forEach(s -> names.add(s.contains("{") ? s.substring(0, s.indexOf('{')) : s));
    return names;
  }

  /** The sum of every sample of this name whose labels contain each of {@code labels} (e.g. peer="n2"). */
  public double sum(String name, String... labels) {
    double total = 0;
    for (var e : samples().entrySet()) {
      var series = e.getKey();
      if (!series.equals(name) && !series.startsWith(name + "{")) {
        continue;
      }
      boolean all = true;
      for (var l : labels) {
        all &= series.contains(l);
      }
      if (all) {
        total += e.getValue();
      }
    }
    return total;
  }
}
