/**
 * TCP: the client listener (a virtual thread per connection), framing and validation, and the follower's link to
 * the leader's client port.
 */
package dev.kvraft.server.net;
