#!/usr/bin/env bash
# The XenAPI test server (tests/xapi/server.py) itself, over its Unix socket
# with python3's xmlrpc.client: login, VDI.db_introduce with its 19
# arguments, get_by_uuid, record types, forget, xapi's failures for a wrong
# arity, a wrong type and an unknown session, slow and silent modes, dumps,
# the tapdisk-pause plugin's failures, debug.seed, debug.add_session,
# debug.reset_calls and the types debug.calls keeps.
source "$(dirname "$0")/lib.sh"
need python3=python3

XAPI_DIR="$T/xapi"
stop_xapi() { "$REPO/tests/xapi/server.sh" stop "$XAPI_DIR"; rm -rf "$T"; }
trap stop_xapi EXIT

if ! "$REPO/tests/xapi/server.sh" start "$XAPI_DIR" >"$T/start.out"; then
	fail "server.sh start: $(cat "$T/start.out")"
	finish
fi
source "$XAPI_DIR/env"
[ -S "$XAPI_SOCKET" ] && kill -0 "$XAPI_PID" || fail "no socket or no process after start"

if python3 "$REPO/tests/xapi/client_test.py" "$XAPI_SOCKET" "$XAPI_DIR/db.json" "$XAPI_PID" >"$T/client.out" 2>&1; then
	pass "server checks: $(grep -c '^ok' "$T/client.out") passed"
else
	grep -v '^ok' "$T/client.out" >&2
	fail "server checks"
fi

# A bad initial database: a clear message at start-up, no server left behind.
echo '{"SR": [{"no_such_field": 1}]}' >"$T/bad.json"
if "$REPO/tests/xapi/server.sh" start "$T/bad" --db "$T/bad.json" >"$T/bad.out" 2>&1; then
	fail "server started with a bad database"
	"$REPO/tests/xapi/server.sh" stop "$T/bad"
elif grep -q 'no_such_field' "$T/bad.out"; then
	pass "a bad initial database is refused, naming the field"
else
	fail "bad database message: $(cat "$T/bad.out")"
fi

# A database from JSON: the SR by uuid, the PBD naming it.
cat >"$T/db.json" <<JSON
{"host": [{"uuid": "11111111-1111-1111-1111-111111111111", "name_label": "h1"}],
 "SR": [{"uuid": "22222222-2222-2222-2222-222222222222", "type": "nfs", "physical_size": "1000"}],
 "PBD": [{"host": "uuid:11111111-1111-1111-1111-111111111111",
          "SR": "uuid:22222222-2222-2222-2222-222222222222", "device_config": {"server": "127.0.0.1"}}],
 "SM": [{"type": "nfs", "capabilities": ["SR_PROBE", "VDI_CREATE"], "features": {"VDI_CREATE": 1}}],
 "secret": [{"uuid": "33333333-3333-3333-3333-333333333333", "value": "chap-pw"}]}
JSON
"$REPO/tests/xapi/server.sh" start "$T/j" --db "$T/db.json" >/dev/null || fail "start with --db"
out=$(python3 - "$T/j/xapi" <<'PY'
import sys, socket, http.client, xmlrpc.client
class C(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX); self.sock.connect(sys.argv[1])
class T(xmlrpc.client.Transport):
    def make_connection(self, host): return C("localhost")
x = xmlrpc.client.ServerProxy("http://localhost/", transport=T())
s = x.session.login_with_password("root", "")["Value"]
sr = x.SR.get_by_uuid(s, "22222222-2222-2222-2222-222222222222")["Value"]
r = x.SR.get_record(s, sr)["Value"]
pbd = x.PBD.get_record(s, r["PBDs"][0])["Value"]
sm = x.SM.get_all_records_where(s, 'field "type" = "nfs"')["Value"]
sm = list(sm.values())[0] if len(sm) == 1 else {}
sec = x.secret.get_by_uuid(s, "33333333-3333-3333-3333-333333333333")["Value"]
host = x.host.get_by_uuid(s, "11111111-1111-1111-1111-111111111111")["Value"]
print(r["type"], r["physical_size"], pbd["device_config"]["server"], pbd["SR"] == sr,
      pbd["host"] == host, sm.get("capabilities"), sm.get("features"),
      x.secret.get_value(s, sec)["Value"])
PY
) || true
[ "$out" = "nfs 1000 127.0.0.1 True True ['SR_PROBE', 'VDI_CREATE'] {'VDI_CREATE': '1'} chap-pw" ] && pass "database from JSON" || fail "database from JSON: $out"
"$REPO/tests/xapi/server.sh" stop "$T/j"

# stop: the process is gone and so is the socket.
"$REPO/tests/xapi/server.sh" stop "$XAPI_DIR"
if kill -0 "$XAPI_PID" 2>/dev/null || [ -e "$XAPI_SOCKET" ]; then
	fail "server.sh stop left the process or the socket"
else
	pass "server.sh stop"
fi
finish
