#!/usr/bin/env python3
"""One XenAPI call over the test server's Unix socket, for shell tests.

  xrpc.py SOCKET METHOD [ARG...]

Each ARG is JSON (a bare word that is not JSON is taken as a string);
"str:TEXT" is the string TEXT whatever it looks like.
Calls other than debug.* and session.login_with_password get $XAPI_SESSION
(default the session_ref smcall puts in its requests) as their first
argument.  Prints the Value (a string as it is, anything else as JSON) and
exits 0 on Success; prints the ErrorDescription as JSON on stderr and
exits 1 on Failure; exits 2 when the server cannot be reached.
"""
import http.client
import json
import os
import socket
import sys
import xmlrpc.client

SMCALL_SESSION = "OpaqueRef:00000000-0000-4000-8000-000000000002"


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class UnixTransport(xmlrpc.client.Transport):
    def __init__(self, path, timeout=10):
        super().__init__()
        self.path, self.timeout = path, timeout

    def make_connection(self, host):
        return UnixConnection(self.path, self.timeout)


def proxy(path, timeout=10):
    return xmlrpc.client.ServerProxy("http://localhost/", transport=UnixTransport(path, timeout),
                                     allow_none=False)


def arg(text):
    if text.startswith("str:"):
        return text[4:]
    try:
        return json.loads(text)
    except ValueError:
        return text


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: xrpc.py SOCKET METHOD [ARG...]")
    path, method = sys.argv[1], sys.argv[2]
    args = [arg(a) for a in sys.argv[3:]]
    if not method.startswith("debug.") and method != "session.login_with_password":
        args.insert(0, os.environ.get("XAPI_SESSION", SMCALL_SESSION))
    try:
        fn = proxy(path)
        for part in method.split("."):
            fn = getattr(fn, part)
        res = fn(*args)
    except (OSError, http.client.HTTPException, xmlrpc.client.Error) as e:
        print("xrpc.py: %s: %s" % (method, e), file=sys.stderr)
        sys.exit(2)
    if res.get("Status") != "Success":
        print(json.dumps(res.get("ErrorDescription")), file=sys.stderr)
        sys.exit(1)
    v = res["Value"]
    print(v if isinstance(v, str) else json.dumps(v, sort_keys=True, default=str))


if __name__ == "__main__":
    main()
