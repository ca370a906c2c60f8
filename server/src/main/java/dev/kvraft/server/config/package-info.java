/**
 * Start-up configuration: immutable records parsed from a properties file and {@code --key=value} overrides, with
 * messages that name the bad setting.
 */
package dev.kvraft.server.config;
