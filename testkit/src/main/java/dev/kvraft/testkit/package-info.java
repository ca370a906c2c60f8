/**
 * Helpers shared by the server's tests and the robustness suite's {@code Cluster} (main code of kvraft-tools, which
 * cannot depend on the server's test jar): free loopback ports chosen outside the kernel's ephemeral range. Nothing
 * here runs inside a server.
 */
package dev.kvraft.testkit;
