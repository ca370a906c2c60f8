/** kvraft-bench: load generation with latency percentiles, modelled on etcd's benchmark tool. */
package dev.kvraft.bench;
