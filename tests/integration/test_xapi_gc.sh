#!/usr/bin/env bash
# csm-gc in xapi mode (docs/gc.md "Under xapi") on a FileSR, against the
# XenAPI test server (tests/xapi/server.sh), the chains made by the driver
# in xapi mode:
#  - the mode by the drivers' rules: it logs in as cleanup.py does
#    (session.login_with_password root, "", "", SM) and logs out; a
#    configured endpoint that is dead, or CSM_XAPI=bogus, fails the run
#    (exit 1) with the storage untouched; CSM_XAPI=off and no endpoint make
#    no XenAPI call;
#  - a VDI whose sm_config has host_<another host> holds back the coalesce
#    that would relink it (exit 3, the reason naming that host), data
#    untouched; host_<this host> is this host's own activation (the
#    coalesce goes on); a leaf attached on another host is not merged;
#  - after a run that deletes garbage, coalesces and leaf-coalesces, the
#    database equals what the storage says (tests/xapi/dbcheck.py), with
#    no sr_scan in between: the GC forgot what it removed and set the
#    children's vhd-parent and the sizes.
source "$(dirname "$0")/lib.sh"
source "$REPO/tests/xapi/check.sh"
set +e
need python3=python3
D="$BUILD/FileSR"
C="$REPO/examples/dconf/file.conf"
GC="$BUILD/csm-gc"
trap 'xapi_stop_all; rm -rf "$T"' EXIT
storage_uuids() { (cd "$FILE_SR_DIR" && ls -- *.vhd *.raw 2>/dev/null | sed 's/\.[a-z]*$//' | sort); }
storage_sum() { tree_sum "$FILE_SR_DIR" | sha1sum; }
# parent_of <uuid>: the VDI its VHD's parent name names ("" for none)
parent_of() { "$VHDTOOL" query "$FILE_SR_DIR/$1.vhd" | sed -n 's/^parent_name=\(.*\)\.vhd$/\1/p'; }
# gc [env...]: csm-gc in the foreground; GC_RC, $T/gc.err
gc() {
	env "$@" "$GC" --sr "$SR_UUID" --dir "$FILE_SR_DIR" >"$T/gc.out" 2>"$T/gc.err"
	GC_RC=$?
	return $GC_RC
}
nlogouts() { calls_of session.logout | wc -l; }
logins() { xrpc debug.logins; }

xapi_start file
export CSM_XAPI=on SM_LOG_STDERR=1
xcall unit "$D" "$C" sr_create 0 && xcall unit "$D" "$C" sr_attach && pass "xapi mode: sr_create, sr_attach"

# V over two base copies: B1 <- B2 <- {V, S2}, S1 deleted: B1's only child
# is B2, which the GC coalesces into B1, relinking V and S2.
xcall vdi_info "$D" "$C" vdi_create 64M "gc disk" && V=$(member uuid)
head -c 3M /dev/urandom >"$T/data"
"$VHDTOOL" write "$FILE_SR_DIR/$V.vhd" 0 "$T/data" >/dev/null || fail "writing $V"
xcall vdi_info "$D" "$C" vdi_snapshot --vdi "$V" && S1=$(member uuid)
"$VHDTOOL" write "$FILE_SR_DIR/$V.vhd" 4194304 "$T/data" >/dev/null || fail "writing $V"
xcall vdi_info "$D" "$C" vdi_snapshot --vdi "$V" && S2=$(member uuid)
B2=$(parent_of "$V")
B1=$(parent_of "$B2")
xcall unit "$D" "$C" vdi_delete --vdi "$S1"
[ -n "$B1" ] && [ -n "$B2" ] && [ "$(parent_of "$S2")" = "$B2" ] &&
	pass "chain: $B1 <- $B2 <- {V $V, S2 $S2}" || fail "no chain to coalesce: B1 '$B1' B2 '$B2'"
db_check "before any GC run" "$D" "$C"
unset CSM_XAPI

# ---- attached on another host: the coalesce is held back ----------------
xrpc debug.seed "str:{\"host\": [{\"ref\": \"$XAPI_HOST2_REF\", \"name_label\": \"host-b\"}]}" >/dev/null
xrpc VDI.add_to_sm_config "$(vdi_ref "$V")" "host_$XAPI_HOST2_REF" RW >/dev/null
before=$(storage_sum)
gc
if [ "$GC_RC" = 3 ] && grep -q "held back: coalesce of $B2: its child $V is active on host host-b ($XAPI_HOST2_REF)" "$T/gc.err"; then
	pass "V attached on host-b: the coalesce of $B2 is held back (exit 3, naming host-b)"
else
	fail "V attached on host-b: exit $GC_RC: $(tail -5 "$T/gc.err")"
fi
[ "$before" = "$(storage_sum)" ] && [ "$(parent_of "$V")" = "$B2" ] &&
	pass "held back: the SR's files are untouched" || fail "held back, yet the files changed"
"$GC" --sr "$SR_UUID" --status >"$T/status" 2>&1
[ $? = 3 ] && grep -q "^held_back=.*host-b" "$T/status" && pass "--status: 3, held_back names host-b" ||
	fail "--status: $(cat "$T/status")"
grep -q "xapi: xapi mode (CSM_XAPI auto, logged in as root" "$T/gc.err" &&
	pass "the mode and its reason are logged" || fail "no mode line: $(head -5 "$T/gc.err")"
[ "$(logins)" = '[["root", "", "", "SM"]]' ] && [ "$(nlogouts)" = 1 ] &&
	pass "it logged in with (root, \"\", \"\", SM) and logged out" ||
	fail "logins $(logins), logouts $(nlogouts)"
xrpc VDI.remove_from_sm_config "$(vdi_ref "$V")" "host_$XAPI_HOST2_REF" >/dev/null

# ---- more work: a leaf to merge, garbage, a leaf attached on host-b -------
export CSM_XAPI=on
xcall vdi_info "$D" "$C" vdi_create 32M "leaf" && W=$(member uuid)
"$VHDTOOL" write "$FILE_SR_DIR/$W.vhd" 0 "$T/data" >/dev/null
xcall vdi_info "$D" "$C" vdi_snapshot --vdi "$W" && S3=$(member uuid)
B3=$(parent_of "$W")
xcall unit "$D" "$C" vdi_delete --vdi "$S3"
xcall vdi_info "$D" "$C" vdi_create 16M "garbage" && X=$(member uuid)
xcall vdi_info "$D" "$C" vdi_snapshot --vdi "$X" && SX=$(member uuid)
BX=$(parent_of "$X")
xcall unit "$D" "$C" vdi_delete --vdi "$X"
xcall unit "$D" "$C" vdi_delete --vdi "$SX"
xcall vdi_info "$D" "$C" vdi_create 16M "attached elsewhere" && Y=$(member uuid)
xcall vdi_info "$D" "$C" vdi_snapshot --vdi "$Y" && SY=$(member uuid)
BY=$(parent_of "$Y")
xcall unit "$D" "$C" vdi_delete --vdi "$SY"
unset CSM_XAPI
[ -f "$FILE_SR_DIR/$BX.vhd" ] && [ -n "$B3" ] && [ -n "$BY" ] &&
	pass "garbage $BX, leaf $W over $B3, leaf $Y over $BY" || fail "the work was not made"
xrpc VDI.add_to_sm_config "$(vdi_ref "$Y")" "host_$XAPI_HOST2_REF" RW >/dev/null
# On this host: its own activation, which holds nothing back here.
xrpc VDI.add_to_sm_config "$(vdi_ref "$V")" "host_$XAPI_HOST_REF" RW >/dev/null

# ---- an endpoint that does not answer: nothing is done -------------------
python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$T/dead"
before=$(storage_sum)
gc CSM_XAPI_SOCKET="$T/dead"
[ "$GC_RC" = 1 ] && grep -q "xapi endpoint $T/dead: cannot log in" "$T/gc.err" &&
	pass "a dead endpoint: exit 1, saying so" || fail "a dead endpoint: exit $GC_RC: $(tail -3 "$T/gc.err")"
gc CSM_XAPI=on CSM_XAPI_SOCKET="$T/no-such-socket"
[ "$GC_RC" = 1 ] && pass "CSM_XAPI=on, no socket: exit 1" || fail "CSM_XAPI=on, no socket: exit $GC_RC"
gc CSM_XAPI=bogus
[ "$GC_RC" = 1 ] && grep -q "CSM_XAPI=bogus" "$T/gc.err" && pass "CSM_XAPI=bogus: exit 1 naming it" ||
	fail "CSM_XAPI=bogus: exit $GC_RC: $(tail -3 "$T/gc.err")"
[ "$before" = "$(storage_sum)" ] && pass "refused runs left the SR's files untouched" ||
	fail "a refused run changed the files"
"$GC" --sr "$SR_UUID" --status >"$T/status" 2>&1
[ $? = 4 ] && grep -q "^state=failed" "$T/status" && pass "--status after a refused run: failed (4)" ||
	fail "--status after a refused run: $(cat "$T/status")"

# ---- the run: the database follows without a scan -----------------------
xrpc debug.reset_calls >/dev/null
gc
[ "$GC_RC" = 0 ] && pass "the GC run: exit 0" || fail "the GC run: exit $GC_RC: $(tail -5 "$T/gc.err")"
[ ! -f "$FILE_SR_DIR/$B2.vhd" ] && [ "$(parent_of "$V")" = "$B1" ] && [ "$(parent_of "$S2")" = "$B1" ] &&
	[ ! -f "$FILE_SR_DIR/$B3.vhd" ] && [ -z "$(parent_of "$W")" ] && [ ! -f "$FILE_SR_DIR/$BX.vhd" ] &&
	pass "coalesced $B2 (V attached on this host), merged $W, deleted $BX" ||
	fail "the GC's work is not done: $(ls "$FILE_SR_DIR")"
[ "$(parent_of "$Y")" = "$BY" ] && pass "the leaf $Y attached on host-b is not merged" ||
	fail "the leaf $Y attached on host-b was merged"
db_check "after the GC, no sr_scan in between" "$D" "$C"
[ -z "$(vdi_ref "$B2")" ] && [ -z "$(vdi_ref "$B3")" ] && [ "$(sm_config_key "$V" vhd-parent)" = "$B1" ] &&
	[ "$(sm_config_key "$S2" vhd-parent)" = "$B1" ] && [ -z "$(sm_config_key "$W" vhd-parent)" ] &&
	pass "$B2 and $B3 forgotten, V's and S2's vhd-parent $B1, none for $W" ||
	fail "records: B2 '$(vdi_ref "$B2")' B3 '$(vdi_ref "$B3")' V $(vdi_field "$V" sm_config) W $(vdi_field "$W" sm_config)"
[ "$(sm_config_key "$V" "host_$XAPI_HOST_REF")" = RW ] && [ "$(sm_config_key "$Y" "host_$XAPI_HOST2_REF")" = RW ] &&
	pass "the host_<ref> keys are left as they were" || fail "a host key went: V $(vdi_field "$V" sm_config)"

# ---- a leaf attached on another host while the GC merges it ---------------
# The plan saw it idle; the GC checks xapi's keys again before the take-over
# and backs off (a shared LVM SR's other hosts show only there).
if grep -q CSM_FAULT_POINT "$GC"; then
	export CSM_XAPI=on
	xcall vdi_info "$D" "$C" vdi_create 32M "leaf raced" && Z=$(member uuid)
	"$VHDTOOL" write "$FILE_SR_DIR/$Z.vhd" 0 "$T/data" >/dev/null
	xcall vdi_info "$D" "$C" vdi_snapshot --vdi "$Z" && SZ=$(member uuid)
	BZ=$(parent_of "$Z")
	xcall unit "$D" "$C" vdi_delete --vdi "$SZ"
	unset CSM_XAPI
	: >"$T/points"
	gc CSM_FAULT_LOG="$T/points" CSM_FAULT_PAUSE=gc:leaf-unhidden CSM_FAULT_PAUSE_MS=20000 \
		CSM_FAULT_PAUSE_GO="$T/go" &
	gc_pid=$!
	for _ in $(seq 200); do grep -q gc:leaf-unhidden "$T/points" && break; sleep 0.1; done
	xrpc VDI.add_to_sm_config "$(vdi_ref "$Z")" "host_$XAPI_HOST2_REF" RW >/dev/null
	touch "$T/go"
	wait "$gc_pid"
	grep -q "leaf-coalesce of $Z stopped: activated on host host-b" "$T/gc.err" &&
		[ "$(parent_of "$Z")" = "$BZ" ] && [ -f "$FILE_SR_DIR/$BZ.vhd" ] &&
		pass "a leaf attached on host-b during its merge: the GC backs off before the take-over" ||
		fail "the raced leaf: $(grep -i "leaf" "$T/gc.err" | tail -3); parent '$(parent_of "$Z")'"
	db_check "after the GC backed off" "$D" "$C"
	xrpc VDI.remove_from_sm_config "$(vdi_ref "$Z")" "host_$XAPI_HOST2_REF" >/dev/null

	# A child attached on host-b while its parent's coalesce copies (without
	# the SR lock): asked again before the relink, which stops; the next
	# run resumes and finishes.
	export CSM_XAPI=on
	xcall vdi_info "$D" "$C" vdi_create 32M "relink raced" && Q=$(member uuid)
	"$VHDTOOL" write "$FILE_SR_DIR/$Q.vhd" 0 "$T/data" >/dev/null
	xcall vdi_info "$D" "$C" vdi_snapshot --vdi "$Q" && SQ1=$(member uuid)
	"$VHDTOOL" write "$FILE_SR_DIR/$Q.vhd" 4194304 "$T/data" >/dev/null
	xcall vdi_info "$D" "$C" vdi_snapshot --vdi "$Q" && SQ2=$(member uuid)
	BQ2=$(parent_of "$Q")
	BQ1=$(parent_of "$BQ2")
	xcall unit "$D" "$C" vdi_delete --vdi "$SQ1"
	unset CSM_XAPI
	: >"$T/points"
	rm -f "$T/go"
	gc CSM_FAULT_LOG="$T/points" CSM_FAULT_PAUSE=gc:copied CSM_FAULT_PAUSE_MS=20000 \
		CSM_FAULT_PAUSE_GO="$T/go" &
	gc_pid=$!
	for _ in $(seq 200); do grep -q gc:copied "$T/points" && break; sleep 0.1; done
	xrpc VDI.add_to_sm_config "$(vdi_ref "$Q")" "host_$XAPI_HOST2_REF" RW >/dev/null
	touch "$T/go"
	wait "$gc_pid"
	raced_rc=$?
	[ "$raced_rc" = 1 ] && grep -q "relink of $BQ2's children held back: $Q became active on host host-b" "$T/gc.err" &&
		[ "$(parent_of "$Q")" = "$BQ2" ] && [ "$(parent_of "$SQ2")" = "$BQ2" ] &&
		pass "a child attached on host-b during the copy: no relink, the chain as it was" ||
		fail "the raced relink: exit $raced_rc: $(grep -i "relink\|held\|idle" "$T/gc.err" | tail -3); parent '$(parent_of "$Q")'"
	xrpc VDI.remove_from_sm_config "$(vdi_ref "$Q")" "host_$XAPI_HOST2_REF" >/dev/null
	gc
	[ "$GC_RC" = 0 ] && [ "$(parent_of "$Q")" = "$BQ1" ] && [ "$(parent_of "$SQ2")" = "$BQ1" ] &&
		[ ! -f "$FILE_SR_DIR/$BQ2.vhd" ] && pass "after host-b's detach the next run resumes the coalesce" ||
		fail "the resumed coalesce: exit $GC_RC, parent '$(parent_of "$Q")'"
	db_check "after the resumed coalesce" "$D" "$C"
else
	skip_part "a leaf attached during its merge (needs the test build's fault points)"
fi

# ---- API mode: no XenAPI call -----------------------------------------------
n0=$(ncalls)
gc CSM_XAPI=off
[ "$GC_RC" = 0 ] && grep -q "xapi: API mode (CSM_XAPI=off)" "$T/gc.err" && pass "CSM_XAPI=off: API mode, said" ||
	fail "CSM_XAPI=off: exit $GC_RC: $(head -3 "$T/gc.err")"
gc CSM_XAPI_SOCKET=
[ "$GC_RC" = 0 ] && grep -q "xapi: API mode (CSM_XAPI_SOCKET unset" "$T/gc.err" && pass "no endpoint: API mode, said" ||
	fail "no endpoint: exit $GC_RC: $(head -3 "$T/gc.err")"
[ "$(ncalls)" = "$n0" ] && pass "API mode made no XenAPI call" || fail "API mode called XenAPI"

# A driver call in API mode (no session: a toolstack of the original API)
# starts its GC in API mode too, though an endpoint is configured: the GC
# must not log in by itself.
n0=$(ncalls)
gc_pid_of() { "$GC" --sr "$SR_UUID" --dir "$FILE_SR_DIR" --status 2>/dev/null | sed -n 's/^pid=//p'; }
pid0=$(gc_pid_of)
req=$("$SMCALL" --print-request "$D" "$C" sr_scan)
CSM_GC=on run_raw "$D" "${req//$XAPI_SESSION_REF/OpaqueRef:NULL}"
# Until a run of another pid than the last one has ended.
for _ in $(seq 100); do
	"$GC" --sr "$SR_UUID" --dir "$FILE_SR_DIR" --status >"$T/st" 2>&1
	grep -q "^running=no" "$T/st" && ! grep -qx "pid=$pid0" "$T/st" && break
	sleep 0.1
done
grep -q "^running=no" "$T/st" && ! grep -qx "pid=$pid0" "$T/st" && [ "$(ncalls)" = "$n0" ] &&
	pass "the GC an API-mode sr_scan starts makes no XenAPI call" ||
	fail "the GC of an API-mode call: $(ncalls) calls (before $n0), status: $(tr '\n' ' ' <"$T/st")"
finish
