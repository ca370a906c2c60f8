package dev.kvraft.shell;

import com.google.protobuf.ByteString;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A command's words split into flags and positional arguments. Flags are {@code --name}, {@code --name=value} or
 * {@code --name value}; {@code --} ends the flags, so keys that start with dashes stay typable.
 */
public final class Args {
  private final List<String> positional;
  private final Map<String, String> flags;

  private Args(List<String> positional, Map<String, String> flags) {
    this.positional = positional;
    this.flags = flags;
  }

  /** Parses words; {@code switches} take no value, {@code options} take one. Unknown flags are a usage error. */
  public static Args parse(List<String> words, Set<String> switches, Set<String> options) {
    var positional = new ArrayList<String>();
    var flags = new HashMap<String, String>();
    boolean flagsDone = false;
    for (int i = 0; i < words.size(); i++) {
      var w = words.get(i);
      if (flagsDone || !w.startsWith("--")) {
        positional.add(w);
        continue;
      }
      if (w.equals("--")) {
        flagsDone = true;
        continue;
      }
      var body = w.substring(2);
      int eq = body.indexOf('=');
      var name = eq >= 0 ? body.substring(0, eq) : body;
      if (switches.contains(name)) {
        if (eq >= 0) {
          throw new UsageException("--" + name + " takes no value");
        }
        flags.put(name, "true");
      } else if (options.contains(name)) {
        if (eq >= 0) {
          flags.put(name, body.substring(eq + 1));
        } else if (i + 1 < words.size()) {
          flags.put(name, words.get(++i));
        } else {
          throw new UsageException("--" + name + " needs a value");
        }
      } else {
        var known = new ArrayList<String>();
        switches.forEach(s -> known.add("--" + s));
        options.forEach(s -> known.add("--" + s + "=VALUE"));
        throw new UsageException("unknown option --" + name
            + (known.isEmpty() ? "; this command takes none" : "; known: " + String.join(" ", known.stream().sorted().toList())));
      }
    }
    return new Args(positional, flags);
  }

  public List<String> positional() {
    return positional;
  }

  public int count() {
    return positional.size();
  }

  /** Positional argument {@code i} as text (UTF-8); {@link #bytes} for a key or value. */
  public String word(int i) {
    return Tokenizer.text(positional.get(i));
  }

  /** Positional argument {@code i} as raw bytes (escapes already decoded by the tokenizer). */
  public ByteString bytes(int i) {
    return ByteString.copyFrom(Tokenizer.bytes(positional.get(i)));
  }

  public boolean has(String flag) {
    return flags.containsKey(flag);
  }

  public String value(String flag) {
    return flags.get(flag);
  }

  public ByteString bytesValue(String flag) {
    return ByteString.copyFrom(Tokenizer.bytes(flags.get(flag)));
  }

  /** A non-negative whole number flag, or the default when absent. */
  public long number(String flag, long dflt) {
    var v = flags.get(flag);
    if (v == null) {
      return dflt;
    }
    try {
      long n = Long.parseLong(v);
      if (n < 0) {
        throw new NumberFormatException();
      }
      return n;
    } catch (NumberFormatException e) {
      throw new UsageException("--" + flag + " must be a whole number >= 0, got '" + v + "'");
    }
  }

  /** Requires between min and max positional arguments. */
  public Args expect(int min, int max) {
    if (positional.size() < min) {
      throw new UsageException("missing argument" + (min - positional.size() > 1 ? "s" : ""));
    }
    if (positional.size() > max) {
      throw new UsageException("too many arguments: " + positional.subList(max, positional.size())
          + " (quote a value that contains spaces)");
    }
    return this;
  }
}
