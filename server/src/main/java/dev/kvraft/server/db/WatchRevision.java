package dev.kvraft.server.db;

import java.util.List;

/**
 * The changes of one revision, as {@link Watches} keeps it among the recent revisions and in each live watcher's
 * pending events; {@code bytes} is the sum of its changes' {@link WatchChange#bytes}.
 *
 * <p>Immutable; used on the database loop's thread only.
 */
record WatchRevision(long revision, List<WatchChange> changes, long bytes) {}
