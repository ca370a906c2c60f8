#!/usr/bin/env python3
"""await-serving.py SECONDS HOST:PORT...: waits until every node answers a linearizable read.

Exits 0 once each address answered a `get` (linearizable, the default) without an error, 1 when SECONDS passed
first. One process polls them all, every 0.2 s, as `etcdctl endpoint health` does for etcd in kvraft-compare:
starting a Python interpreter per node and per poll took a noticeable share of the two cores the starting JVMs
need, and so delayed the start it was timing.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "proto", "examples"))
import kvclient  # noqa: E402  (the protocol's example client: framing and parsing)


def answers(address):
    try:
        conn = kvclient.Connection(address, timeout=0.5)
        try:
            # Request.get (2) = Get {key (1)}; an answer without an error (15) is a linearizable read served.
            response = conn.call(2, kvclient.field_bytes(1, b"health"))
            return kvclient.first(response, 15) is None
        finally:
            conn.sock.close()
    except (OSError, RuntimeError, IndexError):
        return False


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    deadline = time.monotonic() + float(argv[0])
    waiting = list(argv[1:])
    while True:
        waiting = [a for a in waiting if not answers(a)]
        if not waiting:
            return 0
        if time.monotonic() > deadline:
            print("await-serving: no linearizable read answered by " + ", ".join(waiting), file=sys.stderr)
            return 1
        time.sleep(0.2)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
