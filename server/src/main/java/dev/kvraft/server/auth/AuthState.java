package dev.kvraft.server.auth;

import com.google.protobuf.ByteString;
import dev.kvraft.proto.AuthChange;
import dev.kvraft.proto.AuthChangeResult;
import dev.kvraft.proto.AuthReadResult;
import dev.kvraft.proto.AuthRole;
import dev.kvraft.proto.AuthUser;
import dev.kvraft.proto.Error;
import dev.kvraft.proto.Permission;
import dev.kvraft.proto.Permissions;
import dev.kvraft.proto.Response;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Users, roles and whether auth is on: replicated state, changed only by committed {@link AuthChange}s applied in
 * log order ({@link #apply}), carried by snapshots in their {@code system} table ({@link #forSnapshot}, readable
 * with sqlite3: {@code auth.user.NAME} = its roles, {@code auth.role.NAME} = its permissions; the password hashes
 * apart under {@code auth.secret.NAME}).
 *
 * <p>The {@code root} role may do everything; a permission grants {@code read}, {@code write} or both on one key or
 * on {@code [key, range_end)} ({@code range_end = "\0"}: to the end). A request touching a range needs one
 * permission covering all of it, like etcd.
 *
 * <p>Owned by the database loop's thread. Other threads (connections verifying a password or a certificate name)
 * read {@link #view()}, an immutable copy published after every change.
 */
public final class AuthState implements dev.kvraft.server.db.SystemState {
  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(AuthState.class);
  public static final String ROOT = "root";
  private static final String USER = "auth.user.";
  private static final String SECRET = "auth.secret.";
  private static final String ROLE = "auth.role.";
  private static final String ENABLED = "auth.enabled";

  private boolean enabled;
  private final TreeMap<String, User> users = new TreeMap<>();
  private final TreeMap<String, List<Permission>> roles = new TreeMap<>();
  private volatile View view = View.EMPTY;

  private record User(String secret, TreeSet<String> roles) {}

  /** What other threads may read: whether auth is on, each user's password hash and roles. Immutable. */
  public record View(boolean enabled, Map<String, String> secrets, Map<String, List<String>> userRoles) {
    static final View EMPTY = new View(false, Map.of(), Map.of());

    public boolean hasUser(String name) {
      return userRoles.containsKey(name);
    }

    /** Whether {@code name} is a user with the root role. */
    public boolean isRoot(String name) {
      return userRoles.getOrDefault(name, List.of()).contains(ROOT);
    }
  }

  public View view() {
    return view;
  }

  public boolean enabled() {
    return enabled;
  }

  /** Applies one committed change as {@code by} (checked: root only once auth is on). Deterministic. */
  public Response.Builder apply(AuthChange c, String by) {
    var response = Response.newBuilder();
    if (enabled && !isRoot(by)) {
      return response.setError(denied(by, "change users and roles (only the root role may)"));
    }
    var problem = change(c);
    if (problem != null) {
      return response.setError(problem);
    }
    publish();
    return response.setAuthChange(AuthChangeResult.getDefaultInstance());
  }

  private Error change(AuthChange c) {
    var name = c.getName();
    var role = c.getRole();
    switch (c.getAction()) {
      case USER_ADD -> {
        if (users.containsKey(name)) {
          return conflict("user '" + name + "' already exists");
        }
        users.put(name, new User(c.getPasswordHash(), new TreeSet<>()));
      }
      case USER_DELETE -> {
        var u = users.get(name);
        if (u == null) {
          return conflict("no user '" + name + "'");
        }
        if (enabled && u.roles().contains(ROOT) && rootUsers() == 1) {
          return conflict("user '" + name + "' is the last with the root role while auth is on; disable auth"
              + " or grant root to another user first");
        }
        users.remove(name);
      }
      case USER_PASSWORD -> {
        var u = users.get(name);
        if (u == null) {
          return conflict("no user '" + name + "'");
        }
        users.put(name, new User(c.getPasswordHash(), u.roles()));
      }
      case USER_GRANT_ROLE, USER_REVOKE_ROLE -> {
        var u = users.get(name);
        if (u == null) {
          return conflict("no user '" + name + "'");
        }
        if (!role.equals(ROOT) && !roles.containsKey(role)) {
          return conflict("no role '" + role + "'");
        }
        boolean grant = c.getAction() == AuthChange.Action.USER_GRANT_ROLE;
        if (!grant && enabled && role.equals(ROOT) && rootUsers() == 1 && u.roles().contains(ROOT)) {
          return conflict("user '" + name + "' is the last with the root role while auth is on; disable auth"
              + " or grant root to another user first");
        }
        if (grant ? !u.roles().add(role) : !u.roles().remove(role)) {
          return conflict("user '" + name + "' " + (grant ? "already has" : "does not have") + " role '" + role + "'");
        }
      }
      case ROLE_ADD -> {
        if (role.equals(ROOT) || roles.containsKey(role)) {
          return conflict("role '" + role + "' already exists");
        }
        roles.put(role, new ArrayList<>());
      }
      case ROLE_DELETE -> {
        if (role.equals(ROOT)) {
          return invalid("the root role cannot be deleted");
        }
        if (roles.remove(role) == null) {
          return conflict("no role '" + role + "'");
        }
        users.values().forEach(u -> u.roles().remove(role));
      }
      case ROLE_GRANT, ROLE_REVOKE -> {
        var perms = roles.get(role);
        if (perms == null) {
          return conflict(role.equals(ROOT) ? "the root role already may do everything" : "no role '" + role + "'");
        }
        var p = c.getPermission();
        if (p.getType() == Permission.Type.UNRECOGNIZED) {
          // Only an entry that did not pass the client port's validator: refused the same way on every node, never
          // kept (a snapshot could not name its type).
          return invalid("unknown permission type " + p.getTypeValue());
        }
        if (c.getAction() == AuthChange.Action.ROLE_GRANT) {
          if (perms.contains(p)) {
            return conflict("role '" + role + "' already has " + Permissions.describe(p));
          }
          perms.add(p);
        } else if (!perms.remove(p)) {
          return conflict("role '" + role + "' does not have " + Permissions.describe(p));
        }
      }
      case AUTH_ENABLE -> {
        if (rootUsers() == 0) {
          return invalid("auth enable: no user has the root role yet; add one first (user add root, user"
              + " grant-role root root)");
        }
        enabled = true;
      }
      case AUTH_DISABLE -> enabled = false;
      case UNRECOGNIZED -> {
        return invalid("unknown auth change " + c.getActionValue());
      }
    }
    return null;
  }

  private long rootUsers() {
    return users.values().stream().filter(u -> u.roles().contains(ROOT)).count();
  }

  /** Whether {@code user} exists and has the root role. */
  public boolean isRoot(String user) {
    var u = users.get(user);
    return u != null && u.roles().contains(ROOT);
  }

  /**
   * Whether {@code user} may read ({@code write} false) or write the key {@code key} (end empty) or the range
   * {@code [key, end)}: empty when it may, else the error to answer. Call only while auth is on.
   */
  public Optional<Error> check(String user, boolean write, ByteString key, ByteString end, boolean range) {
    if (user.isEmpty()) {
      return Optional.of(unauthenticated());
    }
    var u = users.get(user);
    if (u == null) {
      return Optional.of(unauthenticated());
    }
    if (u.roles().contains(ROOT)) {
      return Optional.empty();
    }
    for (var r : u.roles()) {
      for (var p : roles.getOrDefault(r, List.of())) {
        if (allows(p, write) && covers(p, key, end, range)) {
          return Optional.empty();
        }
      }
    }
    var what = range ? Permissions.range(key, end, Permissions::show) : "key " + Permissions.show(key);
    return Optional.of(denied(user, (write ? "write " : "read ") + what + " (no role of it grants "
        + (write ? "write" : "read") + " there)"));
  }

  private static boolean allows(Permission p, boolean write) {
    return p.getType() == Permission.Type.READWRITE
        || (write ? p.getType() == Permission.Type.WRITE : p.getType() == Permission.Type.READ);
  }

  /** Whether permission {@code p} covers the key {@code key}, or the range {@code [key, end)} when {@code range}. */
  static boolean covers(Permission p, ByteString key, ByteString end, boolean range) {
    var pk = p.getKey();
    var pe = p.getRangeEnd();
    if (pe.isEmpty()) {
      return !range && pk.equals(key);
    }
    if (compare(pk, key) > 0) {
      return false;
    }
    if (Permissions.isToEnd(pe)) {
      return true;
    }
    if (!range) {
      return compare(key, pe) < 0;
    }
    return !Permissions.isToEnd(end) && compare(end, pe) <= 0;
  }

  private static int compare(ByteString a, ByteString b) {
    return ByteString.unsignedLexicographicalComparator().compare(a, b);
  }

  /** Users and roles as a client asked for them (no secrets). */
  public AuthReadResult read() {
    var r = AuthReadResult.newBuilder().setEnabled(enabled);
    users.forEach((name, u) -> r.addUsers(AuthUser.newBuilder().setName(name).addAllRoles(u.roles())
        .setHasPassword(!u.secret().isEmpty())));
    r.addRoles(AuthRole.newBuilder().setName(ROOT));
    roles.forEach((name, perms) -> r.addRoles(AuthRole.newBuilder().setName(name).addAllPermissions(perms)));
    return r.build();
  }

  /** The snapshot's system-table rows for this state (none while nothing was ever set). */
  @Override
  public Map<String, String> forSnapshot() {
    var m = new HashMap<String, String>();
    if (enabled) {
      m.put(ENABLED, "true");
    }
    users.forEach((name, u) -> {
      m.put(USER + name, String.join(",", u.roles()));
      if (!u.secret().isEmpty()) {
        m.put(SECRET + name, u.secret());
      }
    });
    roles.forEach((name, perms) -> m.put(ROLE + name, String.join("; ", perms.stream()
        .map(AuthState::encode).toList())));
    return m;
  }

  /** Replaces the whole state with a snapshot's system table. */
  @Override
  public void installed(Map<String, String> system) {
    enabled = "true".equals(system.get(ENABLED));
    users.clear();
    roles.clear();
    system.forEach((k, v) -> {
      if (k.startsWith(USER)) {
        var name = k.substring(USER.length());
        var rs = new TreeSet<String>();
        for (var r : v.split(",")) {
          if (!r.isBlank()) {
            rs.add(r);
          }
        }
        users.put(name, new User(system.getOrDefault(SECRET + name, ""), rs));
      } else if (k.startsWith(ROLE)) {
        roles.put(k.substring(ROLE.length()), decodeRole(k.substring(ROLE.length()), v));
      }
    });
    publish();
  }

  private void publish() {
    var secrets = new HashMap<String, String>();
    var userRoles = new HashMap<String, List<String>>();
    users.forEach((name, u) -> {
      secrets.put(name, u.secret());
      userRoles.put(name, List.copyOf(u.roles()));
    });
    view = new View(enabled, Map.copyOf(secrets), Map.copyOf(userRoles));
  }

  /**
   * {@code TYPE KEYHEX RANGEENDHEX (description)}: exact, and readable enough in sqlite3. The description shows a key
   * as text only when it holds no {@code ;}, so that {@code "; "} separates a role's permissions and nothing else
   * (found by review: a key such as {@code "a; b"} made every snapshot taken after its grant fail to install).
   */
  private static String encode(Permission p) {
    var hex = java.util.HexFormat.of();
    return p.getType().name().toLowerCase(java.util.Locale.ROOT) + " " + hex.formatHex(p.getKey().toByteArray())
        + " " + hex.formatHex(p.getRangeEnd().toByteArray()) + " (" + describe(p) + ")";
  }

  /** A permission's description in a snapshot: its keys as text unless they hold {@code ;}, then in hex. */
  private static String describe(Permission p) {
    return Permissions.describe(p, key -> {
      var shown = Permissions.show(key);
      return shown.indexOf(';') < 0 ? shown : "0x" + java.util.HexFormat.of().formatHex(key.toByteArray());
    });
  }

  /**
   * A role's permissions as {@link #encode} wrote them, joined by {@code "; "}, read by their structure rather than
   * split: each is its type and two hex keys, then its description in parentheses, which must be exactly what this
   * build or an earlier one wrote for those keys. Earlier builds showed a key holding {@code "; "} as text, so a
   * split could take a key's text for one more permission (found by review). A type this build does not know (one no
   * value names, kept by builds before 2026-12-07, which granted nothing; or a newer build's) is left out, with a
   * WARN. Anything else unreadable fails the install.
   */
  private static List<Permission> decodeRole(String role, String v) {
    var perms = new ArrayList<Permission>();
    var hex = java.util.HexFormat.of();
    int at = 0;
    while (at < v.length()) {
      int a = v.indexOf(' ', at);
      int b = a < 0 ? -1 : v.indexOf(' ', a + 1);
      int c = b < 0 ? -1 : v.indexOf(' ', b + 1);
      if (c < 0 || !v.startsWith("(", c + 1)) {
        throw unreadable(role, v);
      }
      var token = v.substring(at, a);
      Permission p;
      boolean unknown;
      try {
        Permission.Type type;
        try {
          type = Permission.Type.valueOf(token.toUpperCase(java.util.Locale.ROOT));
        } catch (IllegalArgumentException newer) {
          type = Permission.Type.UNRECOGNIZED; // a type of a newer build's
        }
        unknown = type == Permission.Type.UNRECOGNIZED;
        var built = Permission.newBuilder().setKey(ByteString.copyFrom(hex.parseHex(v, a + 1, b)))
            .setRangeEnd(ByteString.copyFrom(hex.parseHex(v, b + 1, c)));
        p = (unknown ? built.setTypeValue(-1) : built.setType(type)).build();
      } catch (IllegalArgumentException e) {
        throw unreadable(role, v);
      }
      int after = -1;
      for (var described : List.of(describe(p), Permissions.describe(p))) {
        // A description begins with the type's name: for a type this build does not know, the one written there.
        var description = unknown ? token + described.substring("unrecognized".length()) : described;
        int end = c + 1 + description.length() + 2;
        if (v.startsWith("(" + description + ")", c + 1) && (end == v.length() || v.startsWith("; ", end))) {
          after = end;
          break;
        }
      }
      if (after < 0) {
        throw unreadable(role, v);
      }
      if (unknown) {
        LOG.warn("snapshot: role '{}' has a permission of a type this build does not know ({}); it is left out (it"
            + " granted nothing)", role, v.substring(at, after));
      } else {
        perms.add(p);
      }
      at = after == v.length() ? after : after + 2;
    }
    return perms;
  }

  private static IllegalStateException unreadable(String role, String value) {
    return new IllegalStateException("snapshot: role '" + role + "' has permissions this build cannot read: '" + value
        + "'; the snapshot is damaged, or from a newer build");
  }

  static Error unauthenticated() {
    return Error.newBuilder().setCode(Error.Code.UNAUTHENTICATED)
        .setMessage("auth is on: authenticate first (kvsh --user NAME; Authenticate), with a user that exists; a"
            + " connection authenticates again after its user's password changes").build();
  }

  private static Error denied(String user, String what) {
    return Error.newBuilder().setCode(Error.Code.PERMISSION_DENIED)
        .setMessage("user '" + user + "' may not " + what).build();
  }

  private static Error conflict(String message) {
    return Error.newBuilder().setCode(Error.Code.CONFLICT).setMessage(message).build();
  }

  private static Error invalid(String message) {
    return Error.newBuilder().setCode(Error.Code.INVALID_ARGUMENT).setMessage(message).build();
  }
}
