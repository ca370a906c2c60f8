package dev.kvraft.shell.commands;

import dev.kvraft.proto.LeaseTimeToLiveResult;
import dev.kvraft.shell.Args;
import dev.kvraft.shell.Format;
import dev.kvraft.shell.Output;
import dev.kvraft.shell.ShellCommand;
import dev.kvraft.shell.ShellContext;
import dev.kvraft.shell.UsageException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code lease grant TTL | revoke ID | keep-alive ID | ttl ID [--keys] | list}, like {@code etcdctl lease}. Keys
 * are attached with {@code put KEY VALUE --lease ID}.
 */
public final class LeaseCommand implements ShellCommand {
  private static final Spec SPEC = new Spec("lease", Group.KEYS,
      "grant TTL | revoke ID | keep-alive ID | ttl ID [--keys] | list",
      "leases: keys put with --lease ID are deleted when the lease expires (TTL seconds without a keep-alive) or is"
          + " revoked; keep-alive renews until Ctrl-C",
      "lease grant 10")
      .withSubcommands(List.of("grant", "revoke", "keep-alive", "ttl", "list"))
      .withOptions(List.of("--keys"));

  @Override
  public Spec spec() {
    return SPEC;
  }

  @Override
  public void run(List<String> words, ShellContext ctx) {
    var args = Args.parse(words, Set.of("keys"), Set.of());
    if (args.count() == 0) {
      throw new UsageException("lease: name a subcommand: grant, revoke, keep-alive, ttl or list");
    }
    var client = ctx.client();
    switch (args.word(0)) {
      case "grant" -> {
        args.expect(2, 2);
        var g = client.leaseGrant(number(args.word(1), "TTL"));
        print(ctx, Map.of("id", g.getId(), "ttl", g.getTtlSeconds()),
            "lease " + g.getId() + " granted with TTL " + g.getTtlSeconds() + " s");
      }
      case "revoke" -> {
        args.expect(2, 2);
        long deleted = client.leaseRevoke(number(args.word(1), "ID"));
        print(ctx, Map.of("deleted", deleted), "lease revoked; " + deleted + " keys deleted");
      }
      case "keep-alive" -> {
        args.expect(2, 2);
        keepAlive(ctx, number(args.word(1), "ID"));
      }
      case "ttl" -> {
        args.expect(2, 2);
        var t = client.leaseTimeToLive(number(args.word(1), "ID"), args.has("keys"));
        if (ctx.format() == Format.JSON) {
          ctx.out().println(Output.toJson(json(t)));
        } else {
          ctx.out().println(line(t));
          t.getKeysList().forEach(k -> ctx.out().println("  " + Output.show(k)));
        }
      }
      case "list" -> {
        args.expect(1, 1);
        var leases = client.leaseList();
        if (ctx.format() == Format.JSON) {
          var list = new ArrayList<Object>();
          leases.forEach(t -> list.add(json(t)));
          ctx.out().println(Output.toJson(list));
        } else if (leases.isEmpty()) {
          ctx.out().println("no leases");
        } else {
          leases.forEach(t -> ctx.out().println(line(t)));
        }
      }
      default -> throw new UsageException("unknown lease subcommand '" + args.word(0)
          + "': use grant, revoke, keep-alive, ttl or list");
    }
  }

  /** Renews until Ctrl-C (interactive) or until the lease is gone. */
  private static void keepAlive(ShellContext ctx, long id) {
    long ttl = ctx.client().leaseKeepAliveOnce(id);
    ctx.out().println("lease " + id + " kept alive (TTL " + ttl + " s); Ctrl-C stops");
    ctx.out().flush();
    try (var k = ctx.client().keepAlive(id)) {
      if (!ctx.holdUntilInterrupted(k::isAlive)) {
        throw new dev.kvraft.shell.CommandFailedException("lease " + id + " is gone: " + k.lostBecause());
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  static long number(String word, String what) {
    try {
      long n = Long.parseLong(word);
      if (n <= 0) {
        throw new NumberFormatException();
      }
      return n;
    } catch (NumberFormatException e) {
      throw new UsageException("lease: " + what + " must be a positive whole number, got '" + word + "'");
    }
  }

  private static String line(LeaseTimeToLiveResult t) {
    return "lease " + t.getId() + ": " + t.getTtlSeconds() + " s left of " + t.getGrantedTtlSeconds() + " s"
        + (t.getKeysCount() > 0 ? ", " + t.getKeysCount() + " keys" : "");
  }

  private static Map<String, Object> json(LeaseTimeToLiveResult t) {
    var m = new LinkedHashMap<String, Object>();
    m.put("id", t.getId());
    m.put("ttl", t.getTtlSeconds());
    m.put("granted_ttl", t.getGrantedTtlSeconds());
    if (t.getKeysCount() > 0) {
      m.put("keys", t.getKeysList().stream().map(Output::show).toList());
    }
    return m;
  }

  private static void print(ShellContext ctx, Map<String, Object> json, String text) {
    ctx.out().println(ctx.format() == Format.JSON ? Output.toJson(new LinkedHashMap<>(json)) : text);
  }
}
