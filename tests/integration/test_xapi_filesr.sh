#!/usr/bin/env bash
# FileSR in both modes (docs/protocol.md "Two modes") against the XenAPI
# test server (tests/xapi/server.sh).  In xapi mode, after every call the
# server's database must say what the SR directory says (derived from the
# files alone by xapi_filesr_db.py check), sr_scan answers nil, VDIs added
# or removed behind the driver's back are introduced or forgotten by the
# next scan, the activation handshake, pause/unpause, labels on vdi_update
# and a secret dconf key go through xapi, and a XenAPI failure is the
# command's fault.  The same requests in API mode (no endpoint configured,
# or CSM_XAPI=off) give today's answers and make no XenAPI call.
source "$(dirname "$0")/lib.sh"
need python3=python3
D="$BUILD/FileSR"
C="$REPO/examples/dconf/file.conf"
DBPY="$REPO/tests/integration/xapi_filesr_db.py"
XAPI_DIR="$T/xapi"
SECRET_UUID=5e9c2a41-7d3b-4f0e-8a6c-1b2d3e4f5a6b
V2=11111111-2222-4333-8444-555555555555
REAL_SMCALL="$SMCALL"
stop_xapi() {
	"$REPO/tests/xapi/server.sh" stop "$XAPI_DIR" >/dev/null 2>&1 || true
	! declare -F xapi_stop_all >/dev/null || xapi_stop_all   # check.sh's servers
	rm -rf "$T"
}
trap stop_xapi EXIT

# The database: this host, the SR (type file), its PBD, and a secret that
# holds the SR's directory (sr_create's dconf names it by location_secret).
HOST_UUID=9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d
cat >"$T/db.json" <<EOF
{"host": [{"uuid": "$HOST_UUID", "name_label": "localhost", "hostname": "localhost",
           "address": "127.0.0.1"}],
 "SR": [{"uuid": "$SR_UUID", "name_label": "file SR", "type": "file", "content_type": "user"}],
 "PBD": [{"host": "uuid:$HOST_UUID", "SR": "uuid:$SR_UUID"}],
 "secret": [{"uuid": "$SECRET_UUID", "value": "$FILE_SR_DIR"}]}
EOF
if ! "$REPO/tests/xapi/server.sh" start "$XAPI_DIR" --db "$T/db.json" >"$T/start.out" 2>&1; then
	fail "server.sh start: $(cat "$T/start.out")"
	finish
fi
source "$XAPI_DIR/env"
db() { python3 "$DBPY" "$XAPI_SOCKET" "$@"; }
SESSION=$(db login)
HOST_REF=$(db first host)
SR_REF=$(db ref SR "$SR_UUID")
echo "location_secret=$SECRET_UUID" >"$T/secret.conf"

# smcall's requests with the database's refs, as xapi would send them: its
# session, this host, the SR (XSR_REF overrides it), and the VDI's record
# (OpaqueRef:NULL when the database has none).
cat >"$T/smcall" <<EOF
#!/usr/bin/env bash
vdi=
args=("\$@")
for ((i = 0; i < \${#args[@]}; i++)); do
	[ "\${args[i]}" = --vdi ] && vdi=\${args[i+1]}
done
req=\$("$REAL_SMCALL" "\$@") || exit \$?
vref=OpaqueRef:NULL
[ -z "\$vdi" ] || vref=\$(python3 "$DBPY" "$XAPI_SOCKET" ref VDI "\$vdi")
printf '%s' "\$req" | sed -e 's/OpaqueRef:00000000-0000-4000-8000-000000000001/$HOST_REF/' \\
	-e 's/OpaqueRef:00000000-0000-4000-8000-000000000002/$SESSION/' \\
	-e "s/OpaqueRef:00000000-0000-4000-8000-000000000003/\${XSR_REF:-$SR_REF}/" \\
	-e "s/OpaqueRef:00000000-0000-4000-8000-000000000004/\$vref/"
EOF
chmod +x "$T/smcall"
SMCALL="$T/smcall"

# check <what> [--vdis-only]: the database says what the directory says.
check() {
	if db check "$FILE_SR_DIR" "$SR_UUID" "$VHDTOOL" ${2:-} >"$T/diff" 2>&1; then
		pass "$1: database = files"
	else
		fail "$1: the database differs from the files:"$'\n'"$(cat "$T/diff")"
	fi
}
field() { db get VDI "$1" "$2"; }
smconfig() { db get VDI "$1" sm_config | python3 -c "import json,sys; print(json.load(sys.stdin).get('$2', ''))"; }

# ---- xapi mode -------------------------------------------------------------
export CSM_XAPI_SOCKET="$XAPI_SOCKET"

# The dconf the driver sees has location, resolved from location_secret.
call unit "$D" "$T/secret.conf" sr_create 0 && pass "sr_create with location_secret"
[ -d "$FILE_SR_DIR" ] || fail "sr_create did not make the directory the secret holds"
grep -q "$FILE_SR_DIR" "$T/stderr" && fail "the secret's value reached stderr"
# A secret xapi does not have: util.get_secret's InvalidSecret (20), in its words.
NOSECRET=0badc0de-0000-4000-8000-000000000000
echo "location_secret=$NOSECRET" >"$T/nosecret.conf"
fault 20 "$D" "$T/nosecret.conf" sr_attach &&
	grep -q "Unable to look up secret \[$NOSECRET\]" <<<"$OUT" &&
	pass "an unknown *_secret uuid is 20 InvalidSecret naming it" || fail "unknown secret: $OUT"
call unit "$D" "$C" sr_attach && pass "sr_attach"
check "sr_attach" --vdis-only
call unit "$D" "$C" sr_scan && pass "sr_scan answers nil in xapi mode"
check "sr_scan of an empty SR"

call vdi_info "$D" "$C" vdi_create 1073741824 'data & <disk>' 'first "disk"' '' false 19700101T00:00:00Z '' false
V1=$(member uuid)
check "vdi_create"
[ "$(field "$V1" name_label)" = '"data & <disk>"' ] || fail "name_label: $(field "$V1" name_label)"
[ "$(field "$V1" name_description)" = '"first \"disk\""' ] || fail "name_description: $(field "$V1" name_description)"
call vdi_info "$D" "$C" vdi_create --vdi "$V2" --sm-config type=raw 10M && check "vdi_create raw"

# The activation handshake: host_<ref> while attached here, no "activating" left.
call unit "$D" "$C" vdi_activate --vdi "$V1" true && pass "vdi_activate"
[ "$(smconfig "$V1" "host_$HOST_REF")" = RW ] || fail "no host_$HOST_REF=RW after activate: $(field "$V1" sm_config)"
[ -z "$(smconfig "$V1" activating)" ] || fail "activating left in sm_config"

# Snapshot of an attached VDI: paused and unpaused on the host that has it.
call vdi_info "$D" "$C" vdi_snapshot --vdi "$V1" && S1=$(member uuid) && pass "vdi_snapshot"
check "vdi_snapshot"
PLUGIN=$(db plugin-calls)
python3 - "$PLUGIN" "$HOST_REF" "$SR_UUID" "$V1" <<'PY' || fail "pause/unpause calls: $PLUGIN"
import json, sys
calls, host, sr, vdi = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
fns = [c[2] for c in calls if c[0] == host and c[1] == "tapdisk-pause"
       and c[3].get("sr_uuid") == sr and c[3].get("vdi_uuid") == vdi]
sys.exit(0 if fns == ["pause", "unpause"] else 1)
PY
[ "$(field "$S1" is_a_snapshot)" = true ] || fail "snapshot is_a_snapshot: $(field "$S1" is_a_snapshot)"
[ "$(field "$S1" snapshot_of)" = "\"$(db ref VDI "$V1")\"" ] || fail "snapshot_of: $(field "$S1" snapshot_of)"

call unit "$D" "$C" vdi_deactivate --vdi "$V1" && pass "vdi_deactivate"
[ -z "$(smconfig "$V1" "host_$HOST_REF")" ] || fail "host_$HOST_REF left after deactivate"
call vdi_info "$D" "$C" vdi_clone --vdi "$V1" && C1=$(member uuid) && check "vdi_clone"
[ "$(db plugin-calls)" = "$PLUGIN" ] && pass "no pause for a VDI attached nowhere" || fail "clone paused: $(db plugin-calls)"
call vdi_info "$D" "$C" vdi_resize --vdi "$C1" 2147483648 && check "vdi_resize"
call unit "$D" "$C" sr_update && check "sr_update"

# A paused VDI cannot be activated (blktap2's _add_tag).
db call VDI.add_to_sm_config "\"$(db ref VDI "$V1")\"" '"paused"' '"true"' >/dev/null
CSM_XAPI_PAUSE_WAIT_S=0 fault 46 "$D" "$C" vdi_activate --vdi "$V1" true && pass "vdi_activate of a paused VDI is 46"
db call VDI.remove_from_sm_config "\"$(db ref VDI "$V1")\"" '"paused"' >/dev/null
[ -z "$(smconfig "$V1" "host_$HOST_REF")" ] || fail "the refused activation left host_$HOST_REF"

# vdi_update keeps xapi's labels where the scan reads them.
db call VDI.set_name_label "\"$(db ref VDI "$V1")\"" '"renamed in xapi"' >/dev/null
call unit "$D" "$C" vdi_update --vdi "$V1" && check "vdi_update"
grep -qx 'label=renamed in xapi' "$FILE_SR_DIR/$V1.meta" || fail "vdi_update did not keep the label: $(cat "$FILE_SR_DIR/$V1.meta")"

# Behind the driver's back: a new image is introduced, a vanished one forgotten.
B=22222222-2222-4333-8444-555555555555
"$VHDTOOL" create "$FILE_SR_DIR/$B.vhd" 4M >/dev/null
rm -f "$FILE_SR_DIR/$C1.vhd" "$FILE_SR_DIR/$C1.meta"
call unit "$D" "$C" sr_scan && check "sr_scan after changes behind the driver's back"
[ "$(db ref VDI "$B")" != OpaqueRef:NULL ] || fail "the new image was not introduced"
[ "$(db ref VDI "$C1")" = OpaqueRef:NULL ] || fail "the vanished VDI was not forgotten"

# The endpoint fails after the first calls (the probe answered; the server's
# debug.set_silent_after):
# the reconcile stops half done, 154 in bounded time; the next scan with the
# endpoint back repairs the database.
E1=44444444-2222-4333-8444-555555555555 E2=55555555-2222-4333-8444-555555555555
E4=66666666-2222-4333-8444-555555555555
for u in "$E1" "$E2" "$E4"; do "$VHDTOOL" create "$FILE_SR_DIR/$u.vhd" 4M >/dev/null; done
db debug reset_calls >/dev/null
db debug set_silent_after '"3"' >/dev/null
t0=$(date +%s%N)
CSM_XAPI_TIMEOUT_MS=1000 fault 154 "$D" "$C" sr_scan && ms=$(( ($(date +%s%N) - t0) / 1000000 )) &&
	[ "$ms" -lt 8000 ] && pass "the endpoint silent after 3 calls: sr_scan is 154 in $ms ms"
# The probe (host.get_all), the VDI list, one introduce answered; the
# second not (the server runs it once it answers again, as xapi might).
[ "$(db ref VDI "$E1")" != OpaqueRef:NULL ] && [ "$(db ref VDI "$E2")" = OpaqueRef:NULL ] &&
	pass "the scan stopped half way: $E1 introduced, $E2 not" ||
	fail "not a half-done reconcile: $(db debug calls | cut -c1-300)"
db debug set_silent false >/dev/null
# The held introduce of $E2 runs now: wait for it, so the next scan does not race it.
for _ in $(seq 50); do [ "$(db ref VDI "$E2")" = OpaqueRef:NULL ] || break; sleep 0.1; done
[ "$(db ref VDI "$E4")" = OpaqueRef:NULL ] || fail "$E4 introduced by the scan that failed"
call unit "$D" "$C" sr_scan && check "the next sr_scan, the endpoint back, repairs the database ($E4 introduced)"
db debug set_silent_after '"3"' >/dev/null
ls "$FILE_SR_DIR" >"$T/before"
CSM_XAPI_TIMEOUT_MS=1000 fault 154 "$D" "$C" vdi_create 4M && pass "the endpoint silent after 3 calls: vdi_create is 154"
db debug set_silent false >/dev/null
E3=$(ls "$FILE_SR_DIR" | comm -13 "$T/before" - | sed -n 's/\.vhd$//p')
sleep 0.5   # the held call runs once the server answers again
call unit "$D" "$C" sr_scan && check "vdi_create cut off mid-reconcile: the next sr_scan repairs the database"
[ -n "$E3" ] && [ "$(db ref VDI "$E3")" != OpaqueRef:NULL ] || fail "vdi_create's VDI $E3 not in the database"

# vdi_introduce of an image the database does not have yet: its record made now.
I1=77777777-2222-4333-8444-555555555555
"$VHDTOOL" create "$FILE_SR_DIR/$I1.vhd" 8M >/dev/null
call vdi_info "$D" "$C" vdi_introduce --new-uuid "$I1" --location "$I1" && check "vdi_introduce"
[ "$(field "$I1" virtual_size)" = '"8388608"' ] && [ "$(field "$I1" managed)" = true ] &&
	pass "vdi_introduce: the record is there, managed, virtual_size \"8388608\"" ||
	fail "vdi_introduce's record: size $(field "$I1" virtual_size) managed $(field "$I1" managed)"

# Records changed behind the driver's back: the next scan puts them right.
VR=$(db ref VDI "$V1") BR=$(db ref VDI "$B")
db call VDI.set_virtual_size "\"$VR\"" '"1"' >/dev/null
db call VDI.remove_from_sm_config "\"$VR\"" '"vhd-parent"' >/dev/null
db call VDI.add_to_sm_config "\"$BR\"" '"vhd-parent"' '"00000000-1111-4222-8333-444444444444"' >/dev/null
db call VDI.set_read_only "\"$BR\"" true >/dev/null
db check "$FILE_SR_DIR" "$SR_UUID" "$VHDTOOL" >/dev/null 2>&1 && fail "the checker did not see the wrong records"
call unit "$D" "$C" sr_scan && check "sr_scan after records were changed behind the driver's back"
[ "$(field "$V1" virtual_size)" != '"1"' ] && [ -n "$(smconfig "$V1" vhd-parent)" ] &&
	[ -z "$(smconfig "$B" vhd-parent)" ] && [ "$(field "$B" read_only)" = false ] &&
	pass "sr_scan corrected virtual_size, vhd-parent (missing and bogus) and read_only" ||
	fail "not corrected: $(field "$V1" virtual_size) $(field "$V1" sm_config) $(field "$B" sm_config)"

# A XenAPI failure is the command's fault, its detail kept: the image is
# not in the database (no scan since), so its record cannot be found.
N=33333333-2222-4333-8444-555555555555
"$VHDTOOL" create "$FILE_SR_DIR/$N.vhd" 4M >/dev/null
fault 82 "$D" "$C" vdi_snapshot --vdi "$N" && pass "a XenAPI failure in vdi_snapshot is 82 VDISnapshot"
grep -q 'UUID_INVALID' <<<"$OUT" || fail "the XenAPI failure's detail is lost: $OUT"
call unit "$D" "$C" sr_scan && check "sr_scan introduces it"
# After the op: the image is made, but xapi refuses the record (an SR ref
# it does not know): the call fails as the command (78), with the detail.
ls "$FILE_SR_DIR" >"$T/before"
XSR_REF=OpaqueRef:no-such-sr fault 78 "$D" "$C" vdi_create 4M && pass "a XenAPI failure after vdi_create is 78 VDICreate"
grep -q 'HANDLE_INVALID' <<<"$OUT" || fail "the XenAPI failure's detail is lost: $OUT"
L=$(ls "$FILE_SR_DIR" | comm -13 "$T/before" - | sed -n 's/\.vhd$//p')
[ -n "$L" ] || fail "vdi_create made no image before the database refused it"
call unit "$D" "$C" sr_scan && check "the next sr_scan introduces what xapi refused"

# An endpoint that does not answer is a fault, never API mode.
CSM_XAPI_SOCKET="$T/nothing-here" fault 154 "$D" "$C" sr_scan && pass "a dead endpoint is 154"

# ---- API mode: today's answers, no XenAPI call ------------------------------
N_CALLS() { db ncalls; }
before=$(N_CALLS)
# api <helper> ...: a helper of lib.sh run with no endpoint configured.
api() {
	local rc=0
	unset CSM_XAPI_SOCKET
	"$@" || rc=$?
	export CSM_XAPI_SOCKET="$XAPI_SOCKET"
	return $rc
}
api call string "$D" "$C" sr_scan && pass "API mode: sr_scan answers the document"
SCAN=$(string_result)
for u in "$V1" "$V2" "$S1" "$B" "$N"; do
	grep -q "<uuid>$u</uuid>" <<<"$SCAN" || fail "API-mode scan lacks $u"
done
api call vdi_info "$D" "$C" vdi_create 4M && A1=$(member uuid) && pass "API mode: vdi_create"
CSM_XAPI=off call string "$D" "$C" sr_scan && pass "CSM_XAPI=off with an endpoint: the document"
api fault 94 "$D" "$T/secret.conf" sr_scan && pass "API mode: a *_secret key is not resolved"
[ "$(N_CALLS)" = "$before" ] && pass "API mode made no XenAPI call" ||
	fail "API mode called XenAPI: $before calls before, $(N_CALLS) after"
[ "$(db ref VDI "$A1")" = OpaqueRef:NULL ] || fail "API-mode vdi_create reached the database"
call unit "$D" "$C" sr_scan && check "xapi-mode sr_scan introduces what API mode made"

# ---- the mode line: every call logs its mode and why ---------------------------
SM_LOG_STDERR=1 call unit "$D" "$C" sr_scan &&
	grep -qF "xapi: xapi mode (CSM_XAPI auto, session_ref given, endpoint $XAPI_SOCKET answers)" <<<"$ERR" &&
	pass "xapi mode logged with its reason" || fail "no xapi-mode line: $(grep -i mode <<<"$ERR")"
CSM_XAPI=off SM_LOG_STDERR=1 call string "$D" "$C" sr_scan &&
	grep -qF "xapi: API mode (CSM_XAPI=off)" <<<"$ERR" && pass "API mode (CSM_XAPI=off) logged" ||
	fail "no API-mode line for CSM_XAPI=off: $(grep -i mode <<<"$ERR")"
SM_LOG_STDERR=1 api call string "$D" "$C" sr_scan &&
	grep -qF "xapi: API mode (CSM_XAPI_SOCKET unset and no /var/lib/xcp/xapi)" <<<"$ERR" &&
	pass "API mode without an endpoint logged with its reason" ||
	fail "no API-mode line without an endpoint: $(grep -i mode <<<"$ERR")"
SM_LOG_STDERR=1 call driver_info "$D" "$C" sr_get_driver_info &&
	grep -qF "xapi: API mode (sr_get_driver_info makes no XenAPI call)" <<<"$ERR" &&
	pass "sr_get_driver_info logs its mode" || fail "sr_get_driver_info: $(grep -i mode <<<"$ERR")"
call string "$D" "$C" vdi_generate_config --vdi "$V1" && CONFIG=$(string_result)
SM_LOG_STDERR=1 run_raw "$D" "${CONFIG:-x}"
printf '%s' "$OUT" | "$XAPI_CHECK" attach 2>/dev/null &&
	grep -qF "xapi: API mode (vdi_attach_from_config: static-vdis' stored config has no session)" <<<"$ERR" &&
	pass "vdi_attach_from_config logs its mode" || fail "vdi_attach_from_config: $(head -c 300 <<<"$OUT") $(grep -i mode <<<"$ERR")"

# ---- endpoints that do not answer properly (tests/xapi/check.sh) ---------------
# A dead socket, a silent and a slow server: 154 within the bound for
# create, scan and delete, the SR directory untouched.
source "$REPO/tests/xapi/check.sh"
storage_sum() { tree_sum "$FILE_SR_DIR" | sha1sum; }
XF_TYPE=file XF_VDI=$V1
XAPI_SESSION_REF=$SESSION   # what this test's smcall wrapper puts in its requests
set +e
xapi_faults 8000 "$D" "$C"
set -e

# ---- the end ----------------------------------------------------------------
for u in "$S1" "$V1" "$V2" "$B" "$N" "$A1" "$E1" "$E2" "$E4" "$I1" $E3 $L; do
	call unit "$D" "$C" vdi_delete --vdi "$u" && check "vdi_delete $u"
	[ "$(db ref VDI "$u")" = OpaqueRef:NULL ] || fail "vdi_delete left $u in the database"
done
call unit "$D" "$C" sr_scan && check "sr_scan after every delete (base copies are garbage)"
call unit "$D" "$C" sr_detach && call unit "$D" "$C" sr_delete && pass "sr_detach, sr_delete"
finish
