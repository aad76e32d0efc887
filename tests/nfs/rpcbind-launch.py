#!/usr/bin/env python3
"""Run rpcbind reachable on loopback only, for the private NFS test server.

rpcbind 1.2.6 cannot be confined with its own options (-h restricts UDP
only; -h 127.0.0.1 aborts with a double free).  It does take its sockets
from systemd socket activation (LISTEN_FDS/LISTEN_PID), and for a
transport it gets no socket for it binds the wildcard itself, so we hand
it one pre-bound loopback socket for every /etc/netconfig transport
(local, tcp, udp, tcp6, udp6) and exec it in this same process, which
keeps LISTEN_PID true and lets the caller stop it by this PID.
"""
import os
import socket
import sys

SD_LISTEN_FDS_START = 3
UNIX_PATH = "/run/rpcbind.sock"


def loopback_pair(family, addr):
    """A TCP listener and a UDP socket on addr:111."""
    tcp = socket.socket(family, socket.SOCK_STREAM)
    udp = socket.socket(family, socket.SOCK_DGRAM)
    for s in (tcp, udp):
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind((addr, 111))
    tcp.listen(128)
    udp.bind((addr, 111))
    return [tcp, udp]


def main():
    if os.path.exists(UNIX_PATH):
        os.unlink(UNIX_PATH)
    local = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    local.bind(UNIX_PATH)
    os.chmod(UNIX_PATH, 0o666)
    local.listen(128)
    socks = [local] + loopback_pair(socket.AF_INET, "127.0.0.1")
    try:
        socks += loopback_pair(socket.AF_INET6, "::1")
    except OSError:
        pass  # no IPv6 loopback here: rpcbind then skips tcp6/udp6
    # Duplicate first, close the originals after: a socket may already sit on a target fd.
    dups = [os.dup(s.fileno()) for s in socks]
    for s in socks:
        s.close()
    for i, fd in enumerate(dups):
        os.dup2(fd, SD_LISTEN_FDS_START + i, inheritable=True)
    for fd in dups:
        if fd >= SD_LISTEN_FDS_START + len(dups):
            os.close(fd)
    env = dict(os.environ, LISTEN_FDS=str(len(dups)), LISTEN_PID=str(os.getpid()))
    os.execvpe("rpcbind", ["rpcbind", "-f"] + sys.argv[1:], env)


main()
