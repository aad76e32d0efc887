# Shared pieces of the xapi-mode driver tests (issue 11), sourced after
# tests/integration/lib.sh.  A test defines, for its SR:
#   storage_uuids    the VDI uuids the storage holds, counted without the
#                    driver (ls of the SR directory, lvs, the LUN list)
#   storage_sum      a fingerprint of everything on the storage (a call that
#                    faults must leave it as it was)
# and calls xapi_start <SR type> before anything else here.
#
# The requests are smcall's (examples/dconf/*.conf), whose refs are fixed:
# host_ref ...0001, session_ref ...0002, sr_ref ...0003; the server is
# seeded with those records and that session.  vdi_ref (...0004 in
# smcall's requests) is replaced by the VDI's ref in the server, as xapi
# sends the ref of the record it holds.

# lib.sh's run_raw leaves errexit on; these tests run with it off (each
# check reports itself), so keep the caller's setting.
eval "lib_$(declare -f run_raw)"
run_raw() { local opts=$-; lib_run_raw "$@"; [[ $opts == *e* ]] || set +e; }

XAPI_HOST_REF=OpaqueRef:00000000-0000-4000-8000-000000000001
XAPI_SESSION_REF=OpaqueRef:00000000-0000-4000-8000-000000000002
XAPI_SR_REF=OpaqueRef:00000000-0000-4000-8000-000000000003
XAPI_HOST2_REF=OpaqueRef:0b0b0b0b-0000-4000-8000-00000000000b
SMCALL_VDI_REF=OpaqueRef:00000000-0000-4000-8000-000000000004
XSERVER="$REPO/tests/xapi/server.sh"
XRPC="$REPO/tests/xapi/xrpc.py"
XAPI_DIRS=()

# xapi_db_json <SR type>: the initial database: host, SR, PBD, SM, session.
xapi_db_json() {
	cat <<JSON
{"session": ["$XAPI_SESSION_REF"],
 "host": [{"ref": "$XAPI_HOST_REF", "uuid": "8d1e0b52-3c4f-4a6b-9d7e-0f1a2b3c4d5e",
           "name_label": "host-a", "hostname": "host-a", "address": "127.0.0.1"}],
 "SR": [{"ref": "$XAPI_SR_REF", "uuid": "$SR_UUID", "name_label": "$1 SR", "type": "$1",
         "content_type": "user"}],
 "PBD": [{"host": "$XAPI_HOST_REF", "SR": "$XAPI_SR_REF", "currently_attached": true}],
 "SM": [{"type": "$1", "name_label": "$1"}]}
JSON
}

# xapi_start <SR type> [<dir> [server options]]: a test server seeded for
# this SR; the first one is XAPI_SOCKET / CSM_XAPI_SOCKET.
xapi_start() {
	local type=$1 dir=${2:-$T/xapi}; shift; [ $# -eq 0 ] || shift
	mkdir -p "$dir"
	xapi_db_json "$type" >"$dir.db.json"
	if ! "$XSERVER" start "$dir" --db "$dir.db.json" "$@" >"$dir.start" 2>&1; then
		fail "the XenAPI test server did not start: $(cat "$dir.start")"
		finish
	fi
	XAPI_DIRS+=("$dir")
	if [ -z "${XAPI_SOCKET:-}" ]; then
		XAPI_SOCKET=$dir/xapi
		export CSM_XAPI_SOCKET=$XAPI_SOCKET
	fi
}
# xapi_stop_all: for the test's EXIT trap.
xapi_stop_all() {
	local d
	for d in "${XAPI_DIRS[@]}"; do "$XSERVER" stop "$d" >/dev/null 2>&1 || true; done
}

xrpc() { python3 "$XRPC" "$XAPI_SOCKET" "$@"; }
vdi_ref() { xrpc VDI.get_by_uuid "$1" 2>/dev/null || true; }
# vdi_field <uuid> <field>: a field of the VDI's record (JSON for maps).
vdi_field() {
	local ref; ref=$(vdi_ref "$1")
	[ -n "$ref" ] && xrpc "VDI.get_$2" "$ref" 2>/dev/null || true
}
sm_config_key() { # <uuid> <key>: that key's value, "" when absent
	vdi_field "$1" sm_config | python3 -c 'import sys, json
d = json.loads(sys.stdin.read() or "{}"); print(d.get(sys.argv[1], ""))' "$2"
}
ncalls() { xrpc debug.calls | python3 -c 'import sys, json; print(len(json.load(sys.stdin)))'; }
# calls_of <method>: the calls of that method received, one JSON list a line
calls_of() {
	xrpc debug.calls | python3 -c 'import sys, json
for m, p in json.load(sys.stdin):
    if m == sys.argv[1]: print(json.dumps(p))' "$1"
}
plugin_calls() { # host plugin fn sr_uuid vdi_uuid, one line each
	xrpc debug.dump | python3 -c 'import sys, json
for h, p, fn, a in json.load(sys.stdin)["plugin_calls"]:
    print(h, p, fn, a.get("sr_uuid"), a.get("vdi_uuid"))'
}

# xreq <smcall args...>: smcall's request, with the VDI's ref from the
# server as vdi_ref (when --vdi names one the server has).
xreq() {
	local req u="" a prev=""
	req=$("$SMCALL" --print-request "$@")
	for a in "$@"; do [ "$prev" = --vdi ] && u=$a; prev=$a; done
	if [ -n "$u" ]; then
		local ref; ref=$(vdi_ref "$u")
		[ -z "$ref" ] || req=${req//$SMCALL_VDI_REF/$ref}
	fi
	printf '%s' "$req"
}
# xcall <kind> <smcall args...>: call (lib.sh) in xapi mode.
xcall() {
	local kind=$1; shift
	run_raw "$1" "$(xreq "$@")"
	if [ "$RC" -ne 0 ]; then
		fail "xapi mode: ${*:3} exited $RC:"$'\n'"$(printf "%s" "$ERR" | tail -10)"; return 1
	fi
	if ! printf '%s' "$OUT" | "$XAPI_CHECK" "$kind" 2>"$T/check"; then
		fail "xapi mode: ${*:3}: answer rejected as $kind: $(cat "$T/check"): $(short "$OUT")"
		return 1
	fi
}
# xfault <code> <smcall args...>
xfault() {
	local code=$1; shift
	run_raw "$1" "$(xreq "$@")"
	if [ "$RC" -ne 0 ]; then fail "${*:3} exited $RC"; return 1; fi
	if ! printf '%s' "$OUT" | "$XAPI_CHECK" fault "$code" 2>"$T/check"; then
		fail "${*:3}: expected fault $code: $(cat "$T/check"): $(short "$OUT")"; return 1
	fi
}
# scan_vdi_field <uuid> <element>: from the last API-mode scan (db_check's)
scan_vdi_field() {
	python3 -c 'import sys, xml.etree.ElementTree as ET
for v in ET.parse(sys.argv[1]).getroot().findall("vdi"):
    if v.findtext("uuid") == sys.argv[2]: print(v.findtext(sys.argv[3]) or "")' "$T/scan.xml" "$1" "$2"
}
# short <response>: its first 160 characters after the XML-RPC envelope, on one line
short() { printf '%s' "$1" | sed -e '1,/<param>\|<fault>/d' | tr '\n' ' ' | cut -c1-160; }

# db_check <what> [--sr-sizes] -- <driver> <dconf> [smcall options]: the
# server's database equals the storage: the SR's scan document (the
# driver's sr_scan in API mode, which must make no XenAPI call), the
# storage's own count of VDIs, and the types of every call received.
# $DBCHECK_ARGS goes to dbcheck.py (--managed-in-db for a LUN-per-VDI SR).
db_check() {
	local what=$1 sizes="" n0 n1; shift
	[ "$1" = --sr-sizes ] && { sizes=--sr-sizes; shift; }
	n0=$(ncalls)
	CSM_XAPI=off run_raw "$1" "$("$SMCALL" --print-request "$@" sr_scan)"
	if [ "$RC" -ne 0 ] || ! printf '%s' "$OUT" | "$XAPI_CHECK" string 2>/dev/null; then
		fail "$what: the API-mode scan failed: $OUT"; return 1
	fi
	string_result >"$T/scan.xml"
	n1=$(ncalls)
	[ "$n0" = "$n1" ] || fail "$what: the API-mode sr_scan made $((n1 - n0)) XenAPI call(s)"
	storage_uuids >"$T/storage.txt"
	xrpc debug.dump >"$T/dump.json"
	xrpc debug.calls >"$T/calls.json"
	if python3 "$REPO/tests/xapi/dbcheck.py" --dump "$T/dump.json" --scan "$T/scan.xml" \
		--sr "$SR_UUID" --storage "$T/storage.txt" --calls "$T/calls.json" $sizes \
		${DBCHECK_ARGS:-} >"$T/dbcheck.out"; then
		pass "$what: database = storage ($(cat "$T/dbcheck.out"))"
	else
		fail "$what: database != storage:"$'\n'"$(head -20 "$T/dbcheck.out")"
		return 1
	fi
}

ms_now() { date +%s%N | cut -c1-13; }

# The same calls in xapi mode against an endpoint that does not answer
# properly: fault 154 within bound_ms, nothing changed on the storage.
# xapi_faults <bound_ms> <driver> <dconf> [smcall options]; needs a VDI uuid in $XF_VDI.
xapi_faults() {
	local bound=$1 t0 ms before d; shift
	local dead="$T/dead-xapi"
	python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$dead"
	xapi_start "${XF_TYPE:-ext}" "$T/silent" --silent
	xapi_start "${XF_TYPE:-ext}" "$T/slow" --delay 5
	for d in "dead:$dead" "silent:$T/silent/xapi" "slow:$T/slow/xapi"; do
		before=$(storage_sum)
		for c in "vdi_create 8M" sr_scan "vdi_delete --vdi $XF_VDI"; do
			t0=$(ms_now)
			# shellcheck disable=SC2086
			CSM_XAPI=on CSM_XAPI_SOCKET=${d#*:} CSM_XAPI_TIMEOUT_MS=1000 \
				xfault 154 "$@" $c || continue
			ms=$(( $(ms_now) - t0 ))
			[ "$ms" -lt "$bound" ] && pass "${d%%:*} endpoint: $c is 154 in $ms ms" ||
				fail "${d%%:*} endpoint: $c took $ms ms (bound $bound)"
		done
		[ "$before" = "$(storage_sum)" ] && pass "${d%%:*} endpoint: nothing changed on the storage" ||
			fail "${d%%:*} endpoint: the storage changed"
	done
	before=$(storage_sum)
	CSM_XAPI=on CSM_XAPI_SOCKET="$T/no-such-socket" xfault 154 "$@" vdi_create 8M &&
		pass "CSM_XAPI=on without a socket: 154"
	CSM_XAPI=bogus xfault 154 "$@" vdi_create 8M && grep -q bogus <<<"$OUT" &&
		pass "CSM_XAPI=bogus: 154 naming the value"
	CSM_XAPI=on run_raw "$1" "$("$SMCALL" --print-request "$@" vdi_create 8M | sed "s/$XAPI_SESSION_REF/OpaqueRef:NULL/")"
	printf '%s' "$OUT" | "$XAPI_CHECK" fault 154 2>/dev/null &&
		pass "CSM_XAPI=on with session_ref OpaqueRef:NULL: 154" ||
		fail "CSM_XAPI=on with session_ref OpaqueRef:NULL: not 154: $(short "$OUT")"
	[ "$before" = "$(storage_sum)" ] && pass "refused modes changed nothing on the storage" ||
		fail "a refused mode changed the storage"
}

# xapi_vhd_lifecycle <driver> <dconf> [smcall options]: the VHD drivers'
# lifecycle in xapi mode, the database checked against the storage after
# every call.  The SR must exist and be attached (sr_create / sr_attach are
# the test's, also in xapi mode).  Uses behind_add <uuid> and behind_rm
# <uuid> (the test's: make or remove a VDI without the driver).  Sets
# XF_VDI to a VDI left in the SR.
xapi_vhd_lifecycle() {
	local V S B CL X host_key="host_$XAPI_HOST_REF" n t0
	xcall unit "$@" sr_scan && pass "xapi mode: sr_scan answers nil"
	db_check "sr_scan" --sr-sizes "$@"
	# An image the driver cannot read is not introduced (nor anything else).
	# First, while the storage is fresh (an LV made later may reuse the
	# extents of a removed VHD and read as one).
	if declare -F behind_damage >/dev/null; then
		X=$(python3 -c 'import uuid; print(uuid.uuid4())')
		behind_damage "$X"
		xcall unit "$@" sr_scan
		[ -z "$(vdi_ref "$X")" ] && pass "sr_scan leaves an unreadable image $X out of the database" ||
			fail "sr_scan introduced the unreadable image $X"
		db_check "sr_scan with an unreadable image" "$@"
		[ -n "$(scan_vdi_field "$X" error)" ] || fail "the API-mode scan does not report $X as unreadable"
		behind_rm "$X"
	fi

	xcall vdi_info "$@" vdi_create 64M "xapi disk" "made in xapi mode" && V=$(member uuid) &&
		pass "xapi mode: vdi_create $V"
	[ -n "${V:-}" ] || { fail "no VDI to go on with"; return 1; }
	db_check "vdi_create" "$@"
	[ "$(vdi_field "$V" name_label)" = "xapi disk" ] && [ "$(vdi_field "$V" managed)" = true ] &&
		[ "$(vdi_field "$V" virtual_size)" = 67108864 ] &&
		pass "vdi_create: the record has the label, managed, virtual_size \"67108864\"" ||
		fail "vdi_create: label '$(vdi_field "$V" name_label)' managed '$(vdi_field "$V" managed)' size '$(vdi_field "$V" virtual_size)'"
	[ "$(calls_of VDI.db_introduce | wc -l)" -ge 1 ] && pass "vdi_create: VDI.db_introduce with 19 arguments" ||
		fail "vdi_create made no VDI.db_introduce"
	# What SRCommand.py / VDI.py _db_introduce take from the request: type =
	# vdi_type, metadata_of_pool and snapshot_of = args 3 and 6 (a uuid,
	# given to db_introduce as its ref), and the vdi_sm_config keys it
	# passes through (base_mirror, key_hash; no other).
	xrpc debug.reset_calls >/dev/null
	local P=OpaqueRef:0d0d0d0d-0000-4000-8000-00000000000d Y
	xcall vdi_info "$@" vdi_create --vdi-type system --sm-config key_hash=kh1 \
		--sm-config base_mirror=bm1 --sm-config other=no 8M "sys disk" "" "$P" false \
		19700101T00:00:00Z "$V" false && Y=$(member uuid)
	calls_of VDI.db_introduce | python3 -c 'import json, sys
a = json.loads(sys.stdin.readline())
ok = (len(a) == 19 and a[4] == "system" and a[14] == sys.argv[1] and a[17] == sys.argv[2]
      and a[10] == {"key_hash": "kh1", "base_mirror": "bm1"})
sys.exit(0 if ok else print(a) or 1)' "$P" "$(vdi_ref "$V")" &&
		[ "$(vdi_field "${Y:-x}" type)" = system ] && [ "$(sm_config_key "${Y:-x}" key_hash)" = kh1 ] &&
		pass "vdi_create: db_introduce with type=vdi_type, metadata_of_pool, snapshot_of, key_hash/base_mirror passed through" ||
		fail "vdi_create's db_introduce: $(calls_of VDI.db_introduce | cut -c1-600)"
	[ -z "${Y:-}" ] || xcall unit "$@" vdi_delete --vdi "$Y"

	# vdi_update: the label and description xapi holds go to the SR's own
	# metadata (what an API-mode scan reads back).
	xrpc VDI.set_name_label "$(vdi_ref "$V")" "str:renamed <in> xapi" >/dev/null
	xrpc VDI.set_name_description "$(vdi_ref "$V")" "str:its new description" >/dev/null
	xcall unit "$@" vdi_update --vdi "$V" && pass "xapi mode: vdi_update"
	db_check "vdi_update" "$@"
	[ "$(scan_vdi_field "$V" label)|$(scan_vdi_field "$V" description)" = \
	  "renamed <in> xapi|its new description" ] &&
		pass "vdi_update: the label and description read from xapi are the SR's now" ||
		fail "vdi_update: the SR says '$(scan_vdi_field "$V" label)|$(scan_vdi_field "$V" description)'"

	xcall attach "$@" vdi_attach --vdi "$V" true && pass "xapi mode: vdi_attach"
	db_check "vdi_attach" "$@"
	# A paused VDI (a snapshot elsewhere holds it) is waited for, as
	# blktap2.py does (120 s; CSM_XAPI_PAUSE_WAIT_S here), then refused untouched.
	xrpc VDI.add_to_sm_config "$(vdi_ref "$V")" paused str:true >/dev/null
	t0=$(ms_now)
	CSM_XAPI_PAUSE_WAIT_S=1 xfault 46 "$@" vdi_activate --vdi "$V" true &&
		[ -z "$(sm_config_key "$V" "$host_key")" ] && [ $(( $(ms_now) - t0 )) -ge 1000 ] &&
		pass "vdi_activate of a VDI paused past the wait (1 s): 46 after $(( $(ms_now) - t0 )) ms, no $host_key added"
	# The pause ends while the activation waits: it goes through then.
	( sleep 2; xrpc VDI.remove_from_sm_config "$(vdi_ref "$V")" paused >/dev/null ) &
	local unpauser=$!
	t0=$(ms_now)
	CSM_XAPI_PAUSE_WAIT_S=30 xcall unit "$@" vdi_activate --vdi "$V" true && n=$(( $(ms_now) - t0 )) &&
		[ "$n" -ge 2000 ] && pass "xapi mode: vdi_activate waited $n ms for the pause to end" ||
		fail "vdi_activate with the pause ending after 2 s: ${n:-no answer} ms"
	wait "$unpauser"   # only it: the test's own servers (tgtd...) run in the background too
	[ "$(sm_config_key "$V" "$host_key")" = RW ] && [ -z "$(sm_config_key "$V" activating)" ] &&
		pass "vdi_activate: sm_config $host_key=RW, no activating left" ||
		fail "vdi_activate: sm_config $(vdi_field "$V" sm_config)"
	db_check "vdi_activate" "$@"

	xrpc debug.reset_calls >/dev/null
	xcall vdi_info "$@" vdi_snapshot --vdi "$V" && S=$(member uuid) && pass "xapi mode: vdi_snapshot $S"
	if [ "$(plugin_calls | cut -d' ' -f1-5 | tr '\n' ';')" = \
	     "$XAPI_HOST_REF tapdisk-pause pause $SR_UUID $V;$XAPI_HOST_REF tapdisk-pause unpause $SR_UUID $V;" ]; then
		pass "vdi_snapshot of an active VDI: tapdisk-pause pause, then unpause, on its host"
	else
		fail "vdi_snapshot's plugin calls: $(plugin_calls | tr '\n' ';')"
	fi
	[ -z "$(sm_config_key "$V" paused)" ] || fail "vdi_snapshot left 'paused' on $V"
	db_check "vdi_snapshot" "$@"
	B=$(sm_config_key "$V" vhd-parent)
	if [ -n "$B" ]; then
		[ "$(vdi_field "$B" managed)" = false ] && [ "$(vdi_field "$B" read_only)" = true ] &&
			[ "$(sm_config_key "${S:-x}" vhd-parent)" = "$B" ] &&
			pass "vdi_snapshot: base copy $B introduced unmanaged, read-only; both children's vhd-parent" ||
			fail "vdi_snapshot: base copy managed=$(vdi_field "$B" managed) read_only=$(vdi_field "$B" read_only)"
	else
		fail "vdi_snapshot: $V has no vhd-parent in the database"
	fi

	# A pause that outlasts the wait: deactivate refuses before the tapdisk
	# would go (blktap2.py _check_tag), the VDI still active here.
	xrpc VDI.add_to_sm_config "$(vdi_ref "$V")" paused str:true >/dev/null
	t0=$(ms_now)
	CSM_XAPI_PAUSE_WAIT_S=2 xfault 46 "$@" vdi_deactivate --vdi "$V" && n=$(( $(ms_now) - t0 )) &&
		[ "$n" -ge 2000 ] && [ -n "$(sm_config_key "$V" "$host_key")" ] &&
		pass "vdi_deactivate of a VDI paused past the wait (2 s): 46 after $n ms, $host_key kept"
	xrpc VDI.remove_from_sm_config "$(vdi_ref "$V")" paused >/dev/null
	[ -n "$(sm_config_key "$V" "$host_key")" ] && xcall unit "$@" vdi_deactivate --vdi "$V" &&
		[ -z "$(sm_config_key "$V" "$host_key")" ] &&
		pass "vdi_deactivate removes $host_key" ||
		fail "vdi_deactivate: the key not there before or after: sm_config $(vdi_field "$V" sm_config)"
	db_check "vdi_deactivate" "$@"
	xcall unit "$@" vdi_detach --vdi "$V" && pass "xapi mode: vdi_detach"
	db_check "vdi_detach" "$@"

	xrpc debug.reset_calls >/dev/null
	xcall vdi_info "$@" vdi_clone --vdi "$V" && CL=$(member uuid) && pass "xapi mode: vdi_clone $CL"
	[ -z "$(plugin_calls)" ] && pass "vdi_clone of an inactive VDI: no plugin call" ||
		fail "vdi_clone of an inactive VDI called: $(plugin_calls | tr '\n' ';')"
	db_check "vdi_clone" "$@"
	# Attached on another host (its key as that host's blktap2 adds it):
	# the clone pauses it there, and unpauses it.
	xrpc debug.seed "str:{\"host\": [{\"ref\": \"$XAPI_HOST2_REF\", \"name_label\": \"host-b\"}]}" >/dev/null 2>&1
	xrpc VDI.add_to_sm_config "$(vdi_ref "$V")" "host_$XAPI_HOST2_REF" RO >/dev/null
	xrpc debug.reset_calls >/dev/null
	xcall vdi_info "$@" vdi_clone --vdi "$V" && n=$(member uuid)
	if [ "$(plugin_calls | tr '\n' ';')" = \
	     "$XAPI_HOST2_REF tapdisk-pause pause $SR_UUID $V;$XAPI_HOST2_REF tapdisk-pause unpause $SR_UUID $V;" ]; then
		pass "vdi_clone of a VDI attached on another host: paused and unpaused there"
	else
		fail "vdi_clone's plugin calls for host-b: $(plugin_calls | tr '\n' ';')"
	fi
	xrpc VDI.remove_from_sm_config "$(vdi_ref "$V")" "host_$XAPI_HOST2_REF" >/dev/null
	[ -z "${n:-}" ] || xcall unit "$@" vdi_delete --vdi "$n"
	db_check "vdi_clone on another host's VDI, the clone deleted" "$@"

	xcall vdi_info "$@" vdi_resize --vdi "$V" 128M &&
		[ "$(vdi_field "$V" virtual_size)" = 134217728 ] && pass "vdi_resize: virtual_size \"134217728\"" ||
		fail "vdi_resize: virtual_size '$(vdi_field "$V" virtual_size)'"
	db_check "vdi_resize" "$@"

	xcall unit "$@" sr_update && pass "xapi mode: sr_update"
	db_check "sr_update" --sr-sizes "$@"

	[ -n "$(vdi_ref "${CL:-x}")" ] && xcall unit "$@" vdi_delete --vdi "${CL:-x}" &&
		[ -z "$(vdi_ref "${CL:-x}")" ] &&
		pass "vdi_delete: the record is forgotten" || fail "vdi_delete: $CL not in the database before, or still after"
	db_check "vdi_delete" "$@"

	# Behind the driver's back: a VDI made, one removed; the next scan follows.
	X=$(python3 -c 'import uuid; print(uuid.uuid4())')
	behind_add "$X"
	[ -n "$(vdi_ref "${S:-x}")" ] || fail "the snapshot $S is not in the database to be forgotten"
	behind_rm "${S:-x}"
	xcall unit "$@" sr_scan
	[ -n "$(vdi_ref "$X")" ] && pass "sr_scan introduced $X, made behind the driver's back" ||
		fail "sr_scan did not introduce $X"
	[ -z "$(vdi_ref "${S:-x}")" ] && pass "sr_scan forgot $S, removed behind the driver's back" ||
		fail "sr_scan did not forget $S"
	db_check "sr_scan after changes behind the driver's back" --sr-sizes "$@"
	XF_VDI=$V
}

# xapi_api_mode <driver> <dconf> [smcall options]: the same calls in API
# mode (CSM_XAPI=off, and auto with no socket at all) answer as before and
# make no XenAPI call; then a xapi-mode scan brings the database back.
xapi_api_mode() {
	local mode A AS
	for mode in off auto; do
		xrpc debug.reset_calls >/dev/null
		if [ $mode = off ]; then export CSM_XAPI=off; else unset CSM_XAPI CSM_XAPI_SOCKET; fi
		call vdi_info "$@" vdi_create "${XAPI_API_SIZE:-32M}" && A=$(member uuid)
		if [ "${XAPI_NO_SNAPSHOT:-0}" = 1 ]; then
			AS=$A
		else
			call vdi_info "$@" vdi_snapshot --vdi "${A:-x}" && AS=$(member uuid)
		fi
		call string "$@" sr_scan && grep -q "&lt;uuid&gt;${AS:-x}&lt;/uuid&gt;" <<<"$OUT" &&
			pass "API mode ($mode): sr_scan answers the document with the new VDIs"
		call unit "$@" vdi_delete --vdi "${AS:-x}"
		[ "${XAPI_NO_UPDATE:-0}" = 1 ] || call unit "$@" sr_update
		export CSM_XAPI_SOCKET=$XAPI_SOCKET
		unset CSM_XAPI
		[ "$(ncalls)" = 0 ] && pass "API mode ($mode): create, snapshot, scan, delete, update (those the driver has) made no XenAPI call" ||
			fail "API mode ($mode): XenAPI calls: $(xrpc debug.calls | cut -c1-300)"
		[ "${XAPI_NO_SNAPSHOT:-0}" = 1 ] || [ -z "$(vdi_ref "${A:-x}")" ] ||
			fail "API mode ($mode): $A is in the database"
	done
	xcall unit "$@" sr_scan
	db_check "xapi-mode scan after API-mode calls" --sr-sizes "$@"
}

# xapi_secret_checks <driver> <dconf> <kind|fault:CODE> <smcall args of a
# call that logs in with CHAP, without chappassword>: chappassword_secret
# names a secret record in the server; the call in xapi mode logs in with
# its value (the same answer as with chappassword), reads it through
# secret.get_by_uuid / get_value, and the value is in no answer, no stderr
# and no log line (SM_LOG_STDERR=1); a secret whose value is wrong is 68.
xapi_secret_checks() {
	local d=$1 c=$2 kind=$3 pw=$4 sec=0d7e1f2a-3b4c-4d5e-8f60-718293a4b5c6
	local wrong=1e8f2a3b-4c5d-4e6f-8a71-8293a4b5c6d7; shift 4
	xrpc debug.seed "str:{\"secret\": [{\"uuid\": \"$sec\", \"value\": \"$pw\"},
		{\"uuid\": \"$wrong\", \"value\": \"wrongsecret99\"}]}" >/dev/null || fail "seeding the secrets"
	xrpc debug.reset_calls >/dev/null
	export SM_LOG_STDERR=1
	if [ "${kind#fault:}" != "$kind" ]; then
		CSM_XAPI=on xfault "${kind#fault:}" "$d" "$c" "$@" --dconf "chappassword_secret=$sec" &&
			pass "chappassword_secret through xapi: the same answer as the password (${kind#fault:})"
	else
		CSM_XAPI=on xcall "$kind" "$d" "$c" "$@" --dconf "chappassword_secret=$sec" &&
			pass "chappassword_secret through xapi: the CHAP login works"
	fi
	cp "$T/stderr" "$T/secret.stderr"
	grep -qF -- "$pw" "$T/stdout" "$T/stderr" && fail "the CHAP password is in the output" ||
		pass "the resolved password is in no answer, no stderr, no log line"
	calls_of secret.get_by_uuid | grep -qF "\"$sec\"" && pass "the secret was read through secret.get_by_uuid" ||
		fail "no secret.get_by_uuid($sec): $(xrpc debug.calls | cut -c1-300)"
	CSM_XAPI=on xfault 68 "$d" "$c" "$@" --dconf "chappassword_secret=$wrong" &&
		pass "a secret whose value is wrong: 68"
	grep -qF -- wrongsecret99 "$T/stdout" "$T/stderr" && fail "the wrong secret's value is in the output"
	unset SM_LOG_STDERR
}
