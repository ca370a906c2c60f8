package dev.kvraft.shell.commands;

import dev.kvraft.proto.AuthChange;
import dev.kvraft.shell.Args;
import dev.kvraft.shell.Output;
import dev.kvraft.shell.ShellCommand;
import dev.kvraft.shell.ShellContext;
import dev.kvraft.shell.UsageException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Set;

/** {@code user ...}: users and their roles, like {@code etcdctl user}. */
public final class UserCommand implements ShellCommand {
  private static final Spec SPEC = new Spec("user", Group.AUTH,
      "add NAME [--no-password] | passwd NAME | del NAME | list | get NAME | grant-role NAME ROLE"
          + " | revoke-role NAME ROLE",
      "users: add (asks for the password, or $KVSH_NEW_PASSWORD; --no-password: a certificate-only user), change"
          + " the password, delete, list, show roles, grant or revoke a role ('root' may do everything)",
      "user add alice")
      .withSubcommands(List.of("add", "passwd", "del", "list", "get", "grant-role", "revoke-role"));

  @Override
  public Spec spec() {
    return SPEC;
  }

  @Override
  public void run(List<String> words, ShellContext ctx) {
    var args = Args.parse(words, Set.of("no-password"), Set.of());
    if (args.count() == 0) {
      throw new UsageException("user needs a subcommand: add, passwd, del, list, get, grant-role or revoke-role");
    }
    var client = ctx.client();
    var sub = args.word(0);
    switch (sub) {
      case "add" -> {
        args.expect(2, 2);
        var name = args.word(1);
        var change = AuthChange.newBuilder().setAction(AuthChange.Action.USER_ADD).setName(name);
        if (!args.has("no-password")) {
          change.setPassword(ctx.secrets().newPassword(name));
        }
        client.authChange(change);
        ctx.out().println("User " + name + " added");
      }
      case "passwd" -> {
        args.expect(2, 2);
        var name = args.word(1);
        var password = ctx.secrets().newPassword(name);
        client.authChange(AuthChange.newBuilder().setAction(AuthChange.Action.USER_PASSWORD).setName(name)
            .setPassword(password));
        ctx.out().println("Password of " + name + " changed");
        // The change ended the sessions of that user, this shell's too when it is its own: log in again with it.
        if (ctx.passwordChanged(name, password)) {
          ctx.out().println("Logged in again as " + name + " with the new password");
        }
      }
      case "del", "delete", "rm" -> {
        args.expect(2, 2);
        client.authChange(AuthChange.newBuilder().setAction(AuthChange.Action.USER_DELETE).setName(args.word(1)));
        ctx.out().println("User " + args.word(1) + " deleted");
      }
      case "grant-role", "revoke-role" -> {
        args.expect(3, 3);
        boolean grant = sub.equals("grant-role");
        client.authChange(AuthChange.newBuilder().setAction(grant ? AuthChange.Action.USER_GRANT_ROLE
            : AuthChange.Action.USER_REVOKE_ROLE).setName(args.word(1)).setRole(args.word(2)));
        ctx.out().println("Role " + args.word(2) + (grant ? " granted to " : " revoked from ") + "user "
            + args.word(1));
      }
      case "list", "ls", "get" -> {
        args.expect(sub.equals("get") ? 2 : 1, sub.equals("get") ? 2 : 1);
        var users = client.authRead().getUsersList().stream()
            .filter(u -> !sub.equals("get") || u.getName().equals(args.word(1))).toList();
        if (sub.equals("get") && users.isEmpty()) {
          throw new UsageException("no user '" + args.word(1) + "'");
        }
        if (ctx.format() == dev.kvraft.shell.Format.JSON) {
          var list = new ArrayList<Object>();
          for (var u : users) {
            var m = new LinkedHashMap<String, Object>();
            m.put("name", u.getName());
            m.put("roles", u.getRolesList());
            m.put("has_password", u.getHasPassword());
            list.add(m);
          }
          ctx.out().println(Output.toJson(list));
        } else if (sub.equals("get")) {
          ctx.out().println("User: " + users.get(0).getName());
          ctx.out().println("Roles: " + String.join(" ", users.get(0).getRolesList()));
        } else {
          users.forEach(u -> ctx.out().println(u.getName()));
        }
      }
      default -> throw new UsageException("unknown user subcommand '" + sub
          + "': use add, passwd, del, list, get, grant-role or revoke-role");
    }
  }
}
