#!/usr/bin/env bash
# smcall replays (issue 12): --request-file sends a saved request byte for
# byte and prints the answer as a direct call does (readable, --raw,
# --output=json); --from-log turns a driver's log line back into the
# request it records, with the masked secrets left masked and named.
source "$(dirname "$0")/lib.sh"
need python3=python3
DRV="$BUILD/FileSR"
C="$REPO/examples/dconf/file.conf"
sm() { "$SMCALL" "$DRV" "$C" "$@"; }
# both <what> <direct output file> <replayed output file>
same() {
	if cmp -s "$2" "$3"; then pass "$1"; else fail "$1: direct:"$'\n'"$(cat "$2")"$'\n'"replayed:"$'\n'"$(cat "$3")"; fi
}
sm sr_create 0 >/dev/null
sm sr_attach >/dev/null
V=$(sm vdi_create 16M "replayed disk" | awk '/^uuid:/{print $2}')

# ---- --request-file: the same answer as the direct call -------------------------
"$SMCALL" "$DRV" none sr_get_driver_info >"$T/direct"
"$SMCALL" --print-request "$DRV" none sr_get_driver_info >"$T/info.xml"
"$SMCALL" --request-file "$T/info.xml" "$DRV" >"$T/replayed" || true
same "--request-file: sr_get_driver_info answers as the direct call" "$T/direct" "$T/replayed"
for out in --raw --output=json; do
	"$SMCALL" "$out" "$DRV" none sr_get_driver_info >"$T/direct"
	"$SMCALL" "$out" --request-file "$T/info.xml" "$DRV" >"$T/replayed" || true
	same "--request-file $out: the same as the direct call" "$T/direct" "$T/replayed"
done
python3 -m json.tool "$T/replayed" >/dev/null 2>"$T/json.err" && pass "the replayed JSON answer parses (python3 -m json.tool)" ||
	fail "JSON: $(cat "$T/json.err")"
# A fault, replayed from stdin: the same line and exit status 1.
U=00000000-0000-4000-8000-00000000dead
set +e
sm vdi_attach --vdi "$U" false >"$T/direct"; rc1=$?
sm --print-request vdi_attach --vdi "$U" false | "$SMCALL" --request-file - "$DRV" >"$T/replayed"; rc2=$?
sm --output=json vdi_attach --vdi "$U" false >"$T/dj"
sm --print-request vdi_attach --vdi "$U" false >"$T/att.xml"
"$SMCALL" --output=json --request-file "$T/att.xml" "$DRV" >"$T/rj"; rc3=$?
set -e
[ "$rc1" -eq 1 ] && [ "$rc2" -eq 1 ] && [ "$rc3" -eq 1 ] && grep -q '^FAULT 46 ' "$T/direct" &&
	same "--request-file -: a fault replayed from stdin, exit 1" "$T/direct" "$T/replayed" ||
	fail "fault replay: rc $rc1/$rc2/$rc3: $(cat "$T/direct") / $(cat "$T/replayed")"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["fault"]["code"] == 46, d' "$T/rj" &&
	same "--request-file --output=json: the fault as JSON" "$T/dj" "$T/rj" || fail "fault JSON: $(cat "$T/rj")"
# An edited request: the driver's own fault, printed readably.
sed 's/vdi_attach/vdi_frobnicate/g' "$T/att.xml" >"$T/bad.xml"
set +e; "$SMCALL" --request-file "$T/bad.xml" "$DRV" >"$T/o" 2>&1; rc=$?; set -e
[ "$rc" -eq 1 ] && grep -q '^FAULT ' "$T/o" && pass "an edited request: the driver's fault, exit 1" ||
	fail "edited request: rc $rc: $(cat "$T/o")"
set +e; "$SMCALL" --request-file "$T/nope.xml" "$DRV" >"$T/o" 2>&1; rc=$?; set -e
[ "$rc" -eq 2 ] && grep -q 'nope.xml: No such file' "$T/o" && pass "a missing request file: exit 2, named" ||
	fail "missing file: rc $rc: $(cat "$T/o")"
set +e; "$SMCALL" --request-file "$T/info.xml" "$DRV" "$C" sr_scan >"$T/o" 2>&1; rc=$?; set -e
[ "$rc" -eq 2 ] && grep -q usage "$T/o" && pass "a replay with a command too: usage, exit 2" || fail "extra args: rc $rc"
# A mutating request replayed: sr_scan after it shows what the direct call would have made.
sm --print-request vdi_snapshot --vdi "$V" >"$T/snap.xml"
S=$("$SMCALL" --request-file "$T/snap.xml" "$DRV" | awk '/^uuid:/{print $2}') || true
[ -n "$S" ] && sm sr_scan | grep -q "<uuid>$S</uuid>" && pass "a replayed vdi_snapshot made its snapshot" ||
	fail "replayed snapshot: '$S'"

# ---- --from-log: the log line back into the request ---------------------------
label=$'it\'s "odd" \\ two\nlines\tcaf\xc3\xa9'
SM_LOG_STDERR=1 sm --dconf "Password=s3cret-value" vdi_create 8M "$label" >/dev/null 2>"$T/log"
line=$(grep -m1 'SM: \[[0-9]*\] vdi_create {' "$T/log") || true
[ "$(grep -c 'vdi_create {' "$T/log")" -eq 1 ] && pass "the request is one log line, whatever the label holds" ||
	fail "the request spans lines: $(cat "$T/log")"
grep -q 's3cret-value' "$T/log" && fail "the log shows the Password value" || pass "the log masks Password (any case)"
sm --print-request --dconf "Password=s3cret-value" vdi_create 8M "$label" >"$T/orig.xml"
set +e
"$SMCALL" --print-request --from-log "$line" >"$T/back.xml" 2>"$T/back.err"; rc=$?
set -e
# What went through the driver, secrets masked: session_ref and Password.
sed -e 's|<name>session_ref</name><value>[^<]*</value>|<name>session_ref</name><value>******</value>|' \
    -e 's|<name>Password</name><value>[^<]*</value>|<name>Password</name><value>******</value>|' "$T/orig.xml" >"$T/want.xml"
[ "$rc" -eq 0 ] && cmp -s "$T/want.xml" "$T/back.xml" &&
	pass "--from-log: the log line gives back the request, byte for byte, secrets masked" ||
	fail "round trip (rc $rc): $(diff <(tr '>' '\n' <"$T/want.xml") <(tr '>' '\n' <"$T/back.xml") | head)"
grep -q "the log masks Password, session_ref" "$T/back.err" && grep -q 'does not make them up' "$T/back.err" &&
	pass "--from-log says which secrets stay masked" || fail "masked note: $(cat "$T/back.err")"
grep -q 's3cret' "$T/back.xml" "$T/back.err" && fail "a secret came back" || true
# The request replayed through the driver: the VDI it makes carries the label.
N=$(printf '%s\n' "Nov 27 22:30:01 xcp-host-07 ${line#SM: }" | "$SMCALL" --from-log - "$DRV" 2>/dev/null | awk '/^uuid:/{print $2}') || true
sm sr_scan >"$T/scan.xml"
LABEL=$label python3 - "$N" "$T/scan.xml" <<'PY' && pass "--from-log - (a syslog line on stdin) replays: the new VDI has the label" ||
import os, sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[2]).getroot()
v = [e for e in root.findall("vdi") if e.findtext("uuid") == sys.argv[1]]
assert v and v[0].findtext("label") == os.environ["LABEL"], (sys.argv[1], v and v[0].findtext("label"))
PY
	fail "--from-log replay: '$N'"
"$SMCALL" --output=json --from-log "$line" "$DRV" 2>/dev/null | python3 -m json.tool >/dev/null &&
	pass "--from-log --output=json parses" || fail "--from-log json"
for bad in "SM: [1] vdi_create: a log line without a request" "SM: [1] vdi_create {'a': 'b'"; do
	set +e; "$SMCALL" --from-log "$bad" "$DRV" >"$T/o" 2>&1; rc=$?; set -e
	[ "$rc" -eq 2 ] && grep -q 'smcall: --from-log: ' "$T/o" && pass "--from-log refuses '${bad:0:30}...' (exit 2)" ||
		fail "bad line: rc $rc: $(cat "$T/o")"
done

# ---- bash completion knows the replays ------------------------------------------
comp=$(cd "$T" && PATH="$BUILD:$PATH" bash -c 'source "$1"
	COMP_WORDS=(smcall --req); COMP_CWORD=1; _csm_smcall; echo "${COMPREPLY[*]}"
	COMPREPLY=(); COMP_WORDS=(smcall --from-log "x {}" FileSR ""); COMP_CWORD=4; _csm_smcall; echo "n=${#COMPREPLY[@]}"
	COMP_WORDS=(smcall --request-file info.); COMP_CWORD=2; _csm_smcall; echo "${COMPREPLY[*]}"' _ \
	"$REPO/tools/completion/csm.bash")
[ "$comp" = $'--request-file\nn=0\ninfo.xml' ] && pass "completion: --request-file, its file, nothing after a replay's driver" ||
	fail "completion: $comp"

finish
