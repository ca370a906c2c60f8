package dev.kvraft.shell.commands;

import com.google.protobuf.ByteString;
import dev.kvraft.client.KvClient;
import dev.kvraft.proto.AuthChange;
import dev.kvraft.proto.Permission;
import dev.kvraft.proto.Permissions;
import dev.kvraft.shell.Args;
import dev.kvraft.shell.Output;
import dev.kvraft.shell.ShellCommand;
import dev.kvraft.shell.ShellContext;
import dev.kvraft.shell.UsageException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/** {@code role ...}: roles and their permissions, like {@code etcdctl role}. */
public final class RoleCommand implements ShellCommand {
  private static final Spec SPEC = new Spec("role", Group.AUTH,
      "add NAME | del NAME | list | get NAME | grant|revoke NAME read|write|readwrite KEY [END]"
          + " | grant|revoke NAME read|write|readwrite --prefix PREFIX",
      "roles: add, delete, list, show permissions, grant or revoke read, write or readwrite on a key, a range"
          + " [KEY, END) or a prefix",
      "role grant app readwrite --prefix app/")
      .withSubcommands(List.of("add", "del", "list", "get", "grant", "revoke")).withOptions(List.of("--prefix"));

  @Override
  public Spec spec() {
    return SPEC;
  }

  @Override
  public void run(List<String> words, ShellContext ctx) {
    var args = Args.parse(words, Set.of("prefix"), Set.of());
    if (args.count() == 0) {
      throw new UsageException("role needs a subcommand: add, del, list, get, grant or revoke");
    }
    var client = ctx.client();
    var sub = args.word(0);
    switch (sub) {
      case "add" -> {
        args.expect(2, 2);
        client.authChange(AuthChange.newBuilder().setAction(AuthChange.Action.ROLE_ADD).setRole(args.word(1)));
        ctx.out().println("Role " + args.word(1) + " added");
      }
      case "del", "delete", "rm" -> {
        args.expect(2, 2);
        client.authChange(AuthChange.newBuilder().setAction(AuthChange.Action.ROLE_DELETE).setRole(args.word(1)));
        ctx.out().println("Role " + args.word(1) + " deleted");
      }
      case "grant", "revoke" -> {
        args.expect(4, args.has("prefix") ? 4 : 5);
        var p = permission(args);
        boolean grant = sub.equals("grant");
        client.authChange(AuthChange.newBuilder().setAction(grant ? AuthChange.Action.ROLE_GRANT
            : AuthChange.Action.ROLE_REVOKE).setRole(args.word(1)).setPermission(p));
        ctx.out().println("Role " + args.word(1) + (grant ? " granted " : " revoked ") + describe(p));
      }
      case "list", "ls", "get" -> {
        boolean one = sub.equals("get");
        args.expect(one ? 2 : 1, one ? 2 : 1);
        var roles = client.authRead().getRolesList().stream()
            .filter(r -> !one || r.getName().equals(args.word(1))).toList();
        if (one && roles.isEmpty()) {
          throw new UsageException("no role '" + args.word(1) + "'");
        }
        if (ctx.format() == dev.kvraft.shell.Format.JSON) {
          var list = new ArrayList<Object>();
          for (var r : roles) {
            var m = new LinkedHashMap<String, Object>();
            m.put("name", r.getName());
            m.put("permissions", r.getPermissionsList().stream().map(RoleCommand::describe).toList());
            list.add(m);
          }
          ctx.out().println(Output.toJson(list));
        } else if (one) {
          var r = roles.get(0);
          ctx.out().println("Role " + r.getName());
          if (r.getName().equals("root")) {
            ctx.out().println("  may do everything");
          }
          r.getPermissionsList().forEach(p -> ctx.out().println("  " + describe(p)));
        } else {
          roles.forEach(r -> ctx.out().println(r.getName()));
        }
      }
      default -> throw new UsageException("unknown role subcommand '" + sub
          + "': use add, del, list, get, grant or revoke");
    }
  }

  private static Permission permission(Args args) {
    Permission.Type type;
    try {
      type = Permission.Type.valueOf(args.word(2).toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new UsageException("'" + args.word(2) + "' is not a permission: use read, write or readwrite");
    }
    var key = args.bytes(3);
    if (key.isEmpty()) {
      throw new UsageException("the key or prefix is empty: name one (keys are 1 byte or more)");
    }
    var end = args.has("prefix") ? KvClient.prefixEnd(key)
        : args.count() > 4 ? args.bytes(4) : ByteString.EMPTY;
    if (args.has("prefix") && end.isEmpty()) {
      end = Permissions.TO_END; // a prefix of 0xff bytes reaches the end
    }
    return Permission.newBuilder().setType(type).setKey(key).setRangeEnd(end).build();
  }

  /** {@code read key k}, {@code readwrite [app/, app0)}, {@code write [a, end)}, keys escaped as kvsh shows them. */
  static String describe(Permission p) {
    return Permissions.describe(p, Output::show);
  }
}
