/**
 * The logging backend: an SLF4J provider that writes every event as one line to stderr, exceptions folded onto the
 * same line, so journald keeps each event whole. Levels are set with {@code -Dkvraft.log.level=...} and
 * {@code -Dkvraft.log.level.PREFIX=...}.
 */
package dev.kvraft.server.log;
