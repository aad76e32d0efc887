#!/usr/bin/env python3
"""A TCP server that only looks like an NFS server from outside, for the
transport-failure paths of the NFS client code.

    fake-server.py MODE [PORT]

Listens on 127.0.0.1:PORT (0 or absent: any free port) and prints the
port on the first line of stdout.  Every connection is treated as MODE:

    reset   accepted, then closed with SO_LINGER 0: the client gets a reset
    eof     accepted, then closed: the stream ends before any reply
    junk    one RPC record read, then answered by a record with the request's
            xid and a reply header that does not decode; the connection
            stays open until the client closes it
    noise   unframed random bytes, then closed

Runs until killed (the tests stop it by PID).
"""
import os
import socket
import struct
import sys
import threading


def read_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def junk(conn):
    marker = read_exact(conn, 4)
    if marker is None:
        return
    length = struct.unpack(">I", marker)[0] & 0x7FFFFFFF
    body = read_exact(conn, length)
    if body is None or len(body) < 4:
        return
    # xid, REPLY, MSG_ACCEPTED, verifier flavour AUTH_NONE, then a verifier
    # longer than the record: the client matches the xid and fails to decode.
    # (Not near 2^31: libnfs 4.0's decoder overflows on such a length and
    # reads out of bounds.)
    reply = body[:4] + struct.pack(">IIII", 1, 0, 0, 4096)
    conn.sendall(struct.pack(">I", 0x80000000 | len(reply)) + reply)
    while conn.recv(4096):
        pass


def serve(conn, mode):
    try:
        if mode == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif mode == "junk":
            junk(conn)
        elif mode == "noise":
            conn.sendall(os.urandom(64))
    except OSError:
        pass
    finally:
        conn.close()


def main():
    if len(sys.argv) not in (2, 3) or sys.argv[1] not in ("reset", "eof", "junk", "noise"):
        sys.stderr.write(__doc__)
        return 2
    mode = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) == 3 else 0
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(16)
    print(srv.getsockname()[1], flush=True)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn, mode), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
