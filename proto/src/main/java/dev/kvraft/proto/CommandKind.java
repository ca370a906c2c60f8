package dev.kvraft.proto;

/**
 * What each command of {@link Request} is, decided once for the server and the client: which commands change the
 * store (and go through the Raft log), which only read it, and which are safe for a client to send again after a
 * lost answer.
 */
public enum CommandKind {
  /**
   * Put, Delete, Txn, AuthChange: proposed to the log on the leader, forwarded to it by a follower; never retried
   * blindly.
   */
  WRITE(false),
  /** Get, Scan: answered from memory, after a read barrier unless STALE. */
  READ(true),
  /** ReadIndex: a follower asking the leader how far to apply before it reads. */
  READ_INDEX(true),
  /** Status, Members: this node's view, answered at once. */
  INFO(true),
  /** Snapshot: writes a snapshot file now; sending it twice writes two. */
  SNAPSHOT(false),
  /** TransferLeader: the leader hands leadership to another member. */
  TRANSFER_LEADER(false),
  /** MemberChange: the leader adds, removes or promotes a member. */
  MEMBER_CHANGE(false),
  /** MemberHello: a member's forwarding link authenticating; answered by the connection itself. */
  MEMBER_HELLO(true),
  /** Backup: copies the state at a linearizable point into a file the client then reads; twice makes two. */
  BACKUP(false),
  /** BackupChunk: a piece of a backup file, answered by the connection itself; same offset, same bytes. */
  BACKUP_CHUNK(true),
  /** Authenticate: the connection proves its user; answered by the connection itself. */
  AUTHENTICATE(true),
  /** Alarm LIST: the raised alarms, like a linearizable read. (RAISE and DISARM are writes.) */
  ALARM_LIST(true),
  /** AuthRead: users, roles and whether auth is on, from this node's state. */
  AUTH_READ(true),
  /** Watch: opens a stream of changes on this connection, answered by this node; a retry opens a second one. */
  WATCH(false),
  /** CancelWatch: ends a watch of this connection. */
  CANCEL_WATCH(true),
  /** LeaseKeepAlive: renews a lease on the leader (a follower forwards it); renewing twice is harmless. */
  LEASE_KEEP_ALIVE(true),
  /** LeaseTimeToLive, LeaseList: this node's leases, after a read barrier like a linearizable read. */
  LEASE_READ(true),
  /** A request that names no command. */
  NONE(false);

  private final boolean safeToRetry;

  CommandKind(boolean safeToRetry) {
    this.safeToRetry = safeToRetry;
  }

  /** Whether a client may send it again after losing the answer, with no effect beyond the first. */
  public boolean safeToRetry() {
    return safeToRetry;
  }

  /**
   * Whether the leader does it: writes, and lease keep-alives (renewed through the leader's log). A follower forwards
   * them, and a client that knows the leader sends them there.
   */
  public boolean leaderWork() {
    return this == WRITE || this == LEASE_KEEP_ALIVE;
  }

  public static CommandKind of(Request.CommandCase command) {
    return switch (command) {
      case PUT, DELETE, TXN, AUTH_CHANGE, COMPACT, LEASE_GRANT, LEASE_REVOKE -> WRITE;
      case LEASE_KEEP_ALIVE -> LEASE_KEEP_ALIVE;
      case LEASE_TIME_TO_LIVE, LEASE_LIST -> LEASE_READ;
      case GET, SCAN -> READ;
      case READ_INDEX -> READ_INDEX;
      case STATUS, MEMBERS -> INFO;
      case SNAPSHOT -> SNAPSHOT;
      case TRANSFER_LEADER -> TRANSFER_LEADER;
      case MEMBER_HELLO -> MEMBER_HELLO;
      case MEMBER_CHANGE -> MEMBER_CHANGE;
      case BACKUP -> BACKUP;
      case BACKUP_CHUNK -> BACKUP_CHUNK;
      case AUTHENTICATE -> AUTHENTICATE;
      case AUTH_READ -> AUTH_READ;
      // Which one depends on the action: of(Request) tells; by case alone, a write (never retried blindly).
      case ALARM -> WRITE;
      case WATCH -> WATCH;
      case CANCEL_WATCH -> CANCEL_WATCH;
      case COMMAND_NOT_SET -> NONE;
    };
  }

  public static CommandKind of(RequestOrBuilder request) {
    if (request.hasAlarm()) {
      return request.getAlarm().getAction() == Alarm.Action.LIST ? ALARM_LIST : WRITE;
    }
    return of(request.getCommandCase());
  }
}
