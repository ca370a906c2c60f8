#!/usr/bin/env python3
"""A minimal kvraft client, written from proto/PROTOCOL.md alone: no protobuf library, no packages.

    kvclient.py [--address HOST:PORT] put KEY VALUE
    kvclient.py [--address HOST:PORT] get KEY [--stale]
    kvclient.py [--address HOST:PORT] delete KEY
    kvclient.py [--address HOST:PORT] status

TLS: --cacert CA.pem [--cert CLIENT.pem --key CLIENT.key] before the command (the server's
certificate must chain to CA.pem and name the host; a client certificate when the node requires one).

Prints one line per answer; exits 1 on an error answer (printed as 'error CODE: message').
UNAVAILABLE answers are retried for a few seconds (nothing was applied), as the protocol allows.
"""
import socket
import ssl
import sys
import time

ERROR_CODES = {0: "UNKNOWN", 1: "INVALID_ARGUMENT", 2: "TOO_LARGE", 3: "UNAVAILABLE", 4: "TIMEOUT",
               5: "OVERLOADED", 6: "INTERNAL", 7: "PERMISSION_DENIED"}


# ---- protobuf wire format, the little of it we need ----

def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_varint(number, value):
    return varint(number << 3 | 0) + varint(value)


def field_bytes(number, data):
    return varint(number << 3 | 2) + varint(len(data)) + data


def read_varint(buf, pos):
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return result, pos


def parse(buf):
    """A message as {field number: [values]}: ints for varints, bytes for length-delimited fields."""
    fields = {}
    pos = 0
    while pos < len(buf):
        key, pos = read_varint(buf, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, pos = read_varint(buf, pos)
        elif wire_type == 2:
            length, pos = read_varint(buf, pos)
            value, pos = buf[pos:pos + length], pos + length
        elif wire_type == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire_type == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ValueError("unsupported wire type %d" % wire_type)
        fields.setdefault(number, []).append(value)
    return fields


def first(fields, number, default=None):
    values = fields.get(number)
    return values[0] if values else default


# ---- framing: a varint length, then the message ----

class Connection:
    def __init__(self, address, timeout=10.0, tls=None):
        host, _, port = address.rpartition(":")
        self.sock = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
        if tls is not None:                                   # the same frames, inside TLS
            self.sock = tls.wrap_socket(self.sock, server_hostname=host.strip("[]"))
        self.next_id = 1

    def call(self, command_field, command_bytes):
        request_id = self.next_id
        self.next_id += 1
        request = field_varint(1, request_id) + field_bytes(command_field, command_bytes)
        self.sock.sendall(varint(len(request)) + request)
        response = parse(self._read_frame())
        # An error with id 0 is about the connection (say, plaintext sent to a TLS port): return it as the answer.
        if first(response, 1, 0) != request_id and not (first(response, 1, 0) == 0 and first(response, 15)):
            raise RuntimeError("answer for request %s, expected %d" % (first(response, 1), request_id))
        return response

    def _read_frame(self):
        length = shift = 0
        while True:
            b = self._read(1)[0]
            length |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        return self._read(length)

    def _read(self, n):
        data = bytearray()
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("the server closed the connection")
            data += chunk
        return bytes(data)


def call_retrying(conn, command_field, command_bytes, seconds=5.0):
    """Sends one command; an UNAVAILABLE answer (not applied) is sent again until `seconds` pass."""
    deadline = time.monotonic() + seconds
    while True:
        response = conn.call(command_field, command_bytes)
        error = first(response, 15)
        if error is None or first(parse(error), 1, 0) != 3 or time.monotonic() > deadline:
            return response
        time.sleep(0.1)


def fail_on_error(response):
    error = first(response, 15)
    if error is not None:
        e = parse(error)
        code = ERROR_CODES.get(first(e, 1, 0), str(first(e, 1, 0)))
        print("error %s: %s" % (code, first(e, 2, b"").decode("utf-8", "replace")))
        sys.exit(1)


def revision(response):
    return first(parse(first(response, 2, b"")), 1, 0)


def main(argv):
    address = "127.0.0.1:7379"
    files = {}
    while len(argv) >= 2 and argv[0] in ("--address", "--cacert", "--cert", "--key"):
        if argv[0] == "--address":
            address = argv[1]
        else:
            files[argv[0]] = argv[1]
        argv = argv[2:]
    if not argv:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    tls = None
    if "--cacert" in files:
        # Verifies the server's certificate and host name (IP addresses too); TLS 1.2 at least.
        tls = ssl.create_default_context(cafile=files["--cacert"])
        tls.minimum_version = ssl.TLSVersion.TLSv1_2
        if "--cert" in files:
            tls.load_cert_chain(files["--cert"], files.get("--key"))
    conn = Connection(address, tls=tls)
    command, args = argv[0], argv[1:]
    if command == "put" and len(args) == 2:
        # Request.put (3) = Put {key (1), value (2)}
        response = call_retrying(conn, 3, field_bytes(1, args[0].encode()) + field_bytes(2, args[1].encode()))
        fail_on_error(response)
        print("OK revision %d" % revision(response))
    elif command == "get" and len(args) in (1, 2):
        stale = len(args) == 2 and args[1] == "--stale"
        # Request.get (2) = Get {key (1), consistency (2): 1 = STALE}
        response = call_retrying(conn, 2, field_bytes(1, args[0].encode()) + (field_varint(2, 1) if stale else b""))
        fail_on_error(response)
        kv = first(parse(first(response, 3, b"")), 1)          # GetResult.kv (1), absent when missing
        if kv is None:
            print("(not found)")
        else:
            kv = parse(kv)                                     # KeyValue {key 1, value 2, ..., version 5}
            print("%s (version %d, mod revision %d)" % (first(kv, 2, b"").decode("utf-8", "replace"),
                                                         first(kv, 5, 0), first(kv, 4, 0)))
    elif command == "delete" and len(args) == 1:
        # Request.delete (4) = Delete {key (1)}
        response = call_retrying(conn, 4, field_bytes(1, args[0].encode()))
        fail_on_error(response)
        print("deleted %d" % first(parse(first(response, 5, b"")), 1, 0))   # DeleteResult.deleted (1)
    elif command == "status" and not args:
        response = call_retrying(conn, 7, b"")                 # Request.status (7) = Status {}
        fail_on_error(response)
        s = parse(first(response, 8, b""))                    # StatusResult {node_id 1, role 2, ..., revision 8}
        print("node %s %s revision %d" % (first(s, 1, b"").decode(), first(s, 2, b"").decode().lower(),
                                          first(s, 8, 0)))
    else:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
