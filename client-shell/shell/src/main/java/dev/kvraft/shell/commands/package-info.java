/** The kvsh commands, one class each, grouped in help by {@link dev.kvraft.shell.ShellCommand.Group}. */
package dev.kvraft.shell.commands;
