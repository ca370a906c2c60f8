/**
 * kvsh, the kvraft shell: command-line parsing, the line runner, output formats, and the interactive JLine prompt.
 */
package dev.kvraft.shell;
