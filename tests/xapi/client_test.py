#!/usr/bin/env python3
"""Checks of tests/xapi/server.py over its Unix socket with xmlrpc.client.

  client_test.py <socket> <dump-file> <pid>

Prints "ok <what>" or "FAIL <what>: <why>" per check; exit 1 if any failed.
"""
import http.client
import json
import os
import signal
import socket
import sys
import time
import xmlrpc.client

SOCK, DUMP_FILE, PID = sys.argv[1], sys.argv[2], int(sys.argv[3])
SR_UUID = os.environ.get("SR_UUID", "3f1c0d9e-5d2a-4b7e-9c61-0e8a2b4f7a10")
FAILS = []


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class UnixTransport(xmlrpc.client.Transport):
    def __init__(self, timeout):
        super().__init__()
        self.timeout = timeout

    def make_connection(self, host):
        return UnixConnection(SOCK, self.timeout)


def proxy(timeout=10):
    return xmlrpc.client.ServerProxy("http://localhost/", transport=UnixTransport(timeout))


X = proxy()


def call(method, *args, proxy_=None):
    return getattr(proxy_ or X, method)(*args)


def check(what, cond, why=""):
    if cond:
        print("ok   " + what)
    else:
        print("FAIL %s: %s" % (what, why))
        FAILS.append(what)


def value(what, res):
    """The Value of a Success, else a failed check (and None)."""
    check(what, isinstance(res, dict) and res.get("Status") == "Success", repr(res))
    return res.get("Value") if isinstance(res, dict) else None


def failure(what, res, expected):
    check(what, isinstance(res, dict) and res.get("Status") == "Failure"
          and res.get("ErrorDescription") == expected,
          "expected Failure %r, got %r" % (expected, res))


login = call("session.login_with_password", "root", "", "1.0", "SM")
s = value("login", login)
check("session is an OpaqueRef", isinstance(s, str) and s.startswith("OpaqueRef:"), repr(s))

sr = value("SR.get_by_uuid", call("SR.get_by_uuid", s, SR_UUID))
rec = value("SR.get_record", call("SR.get_record", s, sr))
check("SR record: uuid, sizes as decimal strings, maps, PBDs",
      rec["uuid"] == SR_UUID and rec["physical_size"] == "0"
      and isinstance(rec["sm_config"], dict) and len(rec["PBDs"]) == 1, repr(rec))
failure("SR.get_by_uuid of an unknown uuid", call("SR.get_by_uuid", s, "no-such-uuid"),
        ["UUID_INVALID", "SR", "no-such-uuid"])
failure("SR.get_record of a bad ref", call("SR.get_record", s, "OpaqueRef:bad"),
        ["HANDLE_INVALID", "SR", "OpaqueRef:bad"])

VDI_UUID = "b7a1c3e2-2f4d-4c6b-8e0a-9d1f2c3b4a5e"
snap_time = xmlrpc.client.DateTime("20261127T10:11:12Z")
intro = [VDI_UUID, "disk", "a disk", sr, "user", False, False, {}, VDI_UUID + ".vhd",
         {}, {"vhd-parent": "p"}, True, "10737418240", "12800", "", False, snap_time, "",
         False]
check("db_introduce has 19 arguments", len(intro) == 19, str(len(intro)))
vdi = value("VDI.db_introduce", call("VDI.db_introduce", s, *intro))
check("VDI.get_by_uuid finds it",
      value("VDI.get_by_uuid", call("VDI.get_by_uuid", s, VDI_UUID)) == vdi)
v = value("VDI.get_record", call("VDI.get_record", s, vdi))
check("VDI record types: int64 as decimal string, DateTime, bool, ref, map",
      v["virtual_size"] == "10737418240" and v["physical_utilisation"] == "12800"
      and isinstance(v["snapshot_time"], xmlrpc.client.DateTime)
      and v["snapshot_time"].value == "20261127T10:11:12Z"
      and v["managed"] is True and v["read_only"] is False and v["SR"] == sr
      and v["sm_config"] == {"vhd-parent": "p"} and v["location"] == VDI_UUID + ".vhd",
      repr(v))
check("SR.get_VDIs lists it", vdi in value("SR.get_VDIs", call("SR.get_VDIs", s, sr)))
where = value("VDI.get_all_records_where",
              call("VDI.get_all_records_where", s, 'field "SR" = "%s"' % sr))
check("get_all_records_where by SR", list(where) == [vdi], repr(where))
failure("db_introduce of a uuid already there", call("VDI.db_introduce", s, *intro),
        ["DB_UNIQUENESS_CONSTRAINT_VIOLATION", "VDI", "uuid", VDI_UUID])

value("VDI.set_virtual_size", call("VDI.set_virtual_size", s, vdi, "21474836480"))
value("SR.set_physical_utilisation", call("SR.set_physical_utilisation", s, sr, "4096"))
value("VDI.add_to_sm_config", call("VDI.add_to_sm_config", s, vdi, "host_" + "OpaqueRef:h", "RW"))
failure("add_to_sm_config of a key already there",
        call("VDI.add_to_sm_config", s, vdi, "host_OpaqueRef:h", "RO"),
        ["MAP_DUPLICATE_KEY", "VDI", "sm_config", vdi, "host_OpaqueRef:h"])
check("sizes and sm_config set",
      call("VDI.get_virtual_size", s, vdi)["Value"] == "21474836480"
      and call("SR.get_physical_utilisation", s, sr)["Value"] == "4096"
      and call("VDI.get_sm_config", s, vdi)["Value"].get("host_OpaqueRef:h") == "RW")
value("VDI.remove_from_sm_config", call("VDI.remove_from_sm_config", s, vdi, "host_OpaqueRef:h"))
check("sm_config key removed", "host_OpaqueRef:h" not in call("VDI.get_sm_config", s, vdi)["Value"])

host = value("host.get_all", call("host.get_all", s))[0]
value("host.call_plugin", call("host.call_plugin", s, host, "tapdisk-pause", "pause",
                                {"sr_uuid": SR_UUID, "vdi_uuid": VDI_UUID, "failfast": "True"}))

# Wrong arity and wrong types, as xapi answers them.
failure("db_introduce with 18 arguments", call("VDI.db_introduce", s, *intro[:18]),
        ["MESSAGE_PARAMETER_COUNT_MISMATCH", "VDI.db_introduce", "20", "19"])
failure("SR.get_by_uuid with no argument", call("SR.get_by_uuid", s),
        ["MESSAGE_PARAMETER_COUNT_MISMATCH", "SR.get_by_uuid", "2", "1"])
bad = list(intro)
bad[0] = "c0ffee00-2f4d-4c6b-8e0a-9d1f2c3b4a5e"
bad[12] = 10.5  # virtual_size as a double
failure("db_introduce with a double virtual_size", call("VDI.db_introduce", s, *bad),
        ["FIELD_TYPE_ERROR", "virtual_size"])
bad[12] = "10G"
failure("db_introduce with a non-decimal virtual_size", call("VDI.db_introduce", s, *bad),
        ["FIELD_TYPE_ERROR", "virtual_size"])
bad[12] = "1024"
bad[16] = "20261127T10:11:12Z"  # snapshot_time as a string, not DateTime
failure("db_introduce with a string snapshot_time", call("VDI.db_introduce", s, *bad),
        ["FIELD_TYPE_ERROR", "snapshot_time"])
bad[16] = snap_time
bad[5] = "false"  # sharable as a string
failure("db_introduce with a string bool", call("VDI.db_introduce", s, *bad),
        ["FIELD_TYPE_ERROR", "sharable"])
failure("SR.set_physical_size with a bool", call("SR.set_physical_size", s, sr, True),
        ["FIELD_TYPE_ERROR", "value"])
failure("an unknown method", call("SR.no_such_call", s), ["MESSAGE_METHOD_UNKNOWN", "SR.no_such_call"])
check("none of the bad calls added a VDI",
      len(call("VDI.get_all", s)["Value"]) == 1)

# Dump: the method and SIGUSR1 both give the database.
dump = json.loads(value("debug.dump", call("debug.dump")))
d = dump["tables"]["VDI"].get(vdi, {})
check("dump holds the VDI with its sizes",
      d.get("virtual_size") == "21474836480" and d.get("snapshot_time") == "20261127T10:11:12Z",
      repr(d))
check("dump holds the plugin call",
      dump["plugin_calls"] and dump["plugin_calls"][0][1:3] == ["tapdisk-pause", "pause"],
      repr(dump["plugin_calls"]))
os.kill(PID, signal.SIGUSR1)
for _ in range(50):
    if os.path.exists(DUMP_FILE):
        break
    time.sleep(0.1)
try:
    with open(DUMP_FILE) as f:
        fdump = json.load(f)
    check("SIGUSR1 dump file holds the VDI", vdi in fdump["tables"]["VDI"])
except (OSError, ValueError) as e:
    check("SIGUSR1 dump file", False, repr(e))

value("VDI.db_forget", call("VDI.db_forget", s, vdi))
failure("VDI.get_by_uuid after db_forget", call("VDI.get_by_uuid", s, VDI_UUID),
        ["UUID_INVALID", "VDI", VDI_UUID])
failure("VDI.db_forget twice", call("VDI.db_forget", s, vdi), ["HANDLE_INVALID", "VDI", vdi])

# Slow and silent modes (for deadline tests).
value("debug.set_delay", call("debug.set_delay", "1.0"))
t0 = time.monotonic()
value("SR.get_uuid while slow", call("SR.get_uuid", s, sr))
took = time.monotonic() - t0
check("slow mode delays the answer by about 1 s", 0.9 <= took < 5, "%.2f s" % took)
value("debug.set_delay 0", call("debug.set_delay", "0"))
value("debug.set_silent", call("debug.set_silent", True))
try:
    call("SR.get_uuid", s, sr, proxy_=proxy(timeout=1))
    check("silent mode gives no answer", False, "it answered")
except (socket.timeout, TimeoutError):
    check("silent mode gives no answer", True)
value("debug.set_silent false", call("debug.set_silent", False))
t0 = time.monotonic()
value("answers again after silent", call("SR.get_uuid", s, sr))
check("answers again at once", time.monotonic() - t0 < 1)
# Silent after n calls: an endpoint that fails in the middle of a command.
value("debug.set_silent_after 2", call("debug.set_silent_after", "2"))
value("1st call after set_silent_after 2", call("SR.get_uuid", s, sr))
value("2nd call after set_silent_after 2", call("SR.get_uuid", s, sr))
try:
    call("SR.get_uuid", s, sr, proxy_=proxy(timeout=1))
    check("the 3rd call after set_silent_after 2 gives no answer", False, "it answered")
except (socket.timeout, TimeoutError):
    check("the 3rd call after set_silent_after 2 gives no answer", True)
value("debug.set_silent false (after set_silent_after)", call("debug.set_silent", False))
value("answers again after set_silent_after", call("SR.get_uuid", s, sr))

# Plugin calls as sm's tapdisk-pause answers them.
failure("tapdisk-pause without vdi_uuid",
        call("host.call_plugin", s, host, "tapdisk-pause", "pause", {"sr_uuid": SR_UUID}),
        ["XENAPI_PLUGIN_FAILURE", "pause", "KeyError", "'vdi_uuid'"])
failure("tapdisk-pause of an unknown fn",
        call("host.call_plugin", s, host, "tapdisk-pause", "frobnicate",
             {"sr_uuid": SR_UUID, "vdi_uuid": VDI_UUID}),
        ["XENAPI_MISSING_PLUGIN", "tapdisk-pause.frobnicate"])
check("session.get_this_host is the host",
      value("session.get_this_host", call("session.get_this_host", s, s)) == host)

# debug.calls keeps the types received: int64 strings as strings, DateTime marked.
calls = json.loads(value("debug.calls", call("debug.calls")))
intro_calls = [c for c in calls if c[0] == "VDI.db_introduce"]
check("debug.calls keeps a size string and marks a DateTime",
      intro_calls and intro_calls[-1][1][12] == "10737418240"
      and intro_calls[-1][1][16] == {"DateTime": "20261127T10:11:12Z"}, repr(intro_calls[-1:]))
value("debug.reset_calls", call("debug.reset_calls"))
check("debug.reset_calls empties the calls and plugin calls",
      json.loads(value("debug.calls", call("debug.calls"))) == []
      and json.loads(value("debug.dump", call("debug.dump")))["plugin_calls"] == [])

# debug.seed and debug.add_session: records and sessions at run time.
added = json.loads(value("debug.seed", call("debug.seed", json.dumps({
    "session": ["OpaqueRef:seeded-session"],
    "host": [{"ref": "OpaqueRef:h2", "uuid": "44444444-4444-4444-4444-444444444444"}],
    "secret": [{"uuid": "55555555-5555-5555-5555-555555555555", "value": "pw"}]}))))
check("debug.seed names the refs it added", added.get("host") == ["OpaqueRef:h2"], repr(added))
sec = value("secret.get_by_uuid on a seeded session",
            call("secret.get_by_uuid", "OpaqueRef:seeded-session",
                 "55555555-5555-5555-5555-555555555555"))
check("a seeded secret's value", value("secret.get_value", call(
    "secret.get_value", "OpaqueRef:seeded-session", sec)) == "pw")
failure("debug.seed of a field that does not exist",
        call("debug.seed", json.dumps({"VDI": [{"nope": "1"}]})),
        ["INTERNAL_ERROR", "debug.seed: VDI has no field nope"])
value("debug.add_session", call("debug.add_session", "OpaqueRef:added"))
check("an added session works",
      value("SR.get_by_uuid", call("SR.get_by_uuid", "OpaqueRef:added", SR_UUID)) == sr)

# Sessions.
value("session.logout", call("session.logout", s))
failure("a call on a logged-out session", call("SR.get_by_uuid", s, SR_UUID),
        ["SESSION_INVALID", s])
failure("a call on an unknown session", call("SR.get_by_uuid", "OpaqueRef:nope", SR_UUID),
        ["SESSION_INVALID", "OpaqueRef:nope"])
failure("a wrong type is found before the session is checked",
        call("SR.get_by_uuid", "OpaqueRef:nope", 7), ["FIELD_TYPE_ERROR", "uuid"])
failure("login with too many arguments",
        call("session.login_with_password", "root", "", "1.0", "SM", "x"),
        ["MESSAGE_PARAMETER_COUNT_MISMATCH", "session.login_with_password", "4", "5"])

print("%d failed" % len(FAILS))
sys.exit(1 if FAILS else 0)
