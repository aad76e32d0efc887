#!/usr/bin/env bash
# Locks people can see (issue 12, docs/locking.md): a held vdi_lock shows
# its holder, host and time in the scan document; every fault it causes
# names the holder, its age, and the command that breaks it; breaking it
# works as the fault says; a busy SR lock names the holding process.
source "$(dirname "$0")/lib.sh"
need python3=python3
DRV="$BUILD/FileSR"
C="$REPO/examples/dconf/file.conf"
sm() { "$SMCALL" "$DRV" "$C" "$@"; }
# smf <args>: the call must fail; its fault line in $FOUT.
smf() { set +e; FOUT=$(sm "$@" 2>&1); local rc=$?; set -e; [ "$rc" -eq 1 ] || fail "$*: rc $rc, want a fault: $FOUT"; }

sm sr_create 0 >/dev/null
sm sr_attach >/dev/null
V=$(sm vdi_create 16M "held disk" | awk '/^uuid:/{print $2}')
sm vdi_lock --vdi "$V" false "OpaqueRef:dead-vm-session" >/dev/null
# The holder took it 3 h 25 min ago on another host: rewrite the record
# as that host would have left it.
since=$(( $(date +%s) - 3 * 3600 - 25 * 60 ))
printf 'user=OpaqueRef:dead-vm-session\nhost=xcp-host-07\nsince=%s\n' "$since" >"$FILE_SR_DIR/$V.lock"

# ---- the scan document ---------------------------------------------------------
sm sr_scan >"$T/scan.xml"
python3 - "$T/scan.xml" "$V" "$since" <<'PY' && pass "sr_scan names the holder, host and time" ||
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
v = [e for e in root.findall("vdi") if e.findtext("uuid") == sys.argv[2]][0]
assert v.findtext("locked") == "true", ET.tostring(v)
assert v.findtext("lock_user") == "OpaqueRef:dead-vm-session", ET.tostring(v)
assert v.findtext("lock_host") == "xcp-host-07", ET.tostring(v)
assert v.findtext("lock_since") == sys.argv[3], ET.tostring(v)
PY
	fail "scan: $(cat "$T/scan.xml")"
# An unlocked VDI has no holder elements.
U=$(sm vdi_create 16M free | awk '/^uuid:/{print $2}')
sm sr_scan | awk -v u="$U" '/<uuid>/{cur=$0} cur ~ u && /<lock_/' | grep -q . &&
	fail "an unlocked VDI carries lock_ elements" || pass "an unlocked VDI carries no holder"

# ---- the faults ----------------------------------------------------------------
age_re="since [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}[+-][0-9]{4} \(3 h 2[45] min ago\)"
holder_re="'OpaqueRef:dead-vm-session' on host xcp-host-07 $age_re"
break_re="vdi_lock --vdi $V true"
for op in vdi_delete vdi_snapshot vdi_clone; do
	smf "$op" --vdi "$V"
	if [[ $FOUT =~ ^FAULT\ 24\ VDIInUse: ]] && [[ $FOUT =~ $holder_re ]] && [[ $FOUT =~ $break_re ]]; then
		pass "$op of a locked VDI: fault 24 names the holder, its age and how to break it"
	else
		fail "$op: $FOUT"
	fi
done
smf vdi_lock --vdi "$V" false ops-admin
[[ $FOUT =~ ^FAULT\ 37\ LockErr: ]] && [[ $FOUT =~ $holder_re ]] && [[ $FOUT =~ "$break_re 'ops-admin'" ]] &&
	pass "vdi_lock by another user: names holder, age, and the forced vdi_lock" || fail "vdi_lock: $FOUT"
smf vdi_unlock --vdi "$V" ops-admin
[[ $FOUT =~ ^FAULT\ 37\ LockErr: ]] && [[ $FOUT =~ $holder_re ]] && [[ $FOUT =~ "not 'ops-admin'" ]] &&
	[[ $FOUT =~ $break_re ]] && pass "vdi_unlock by another user: names the holder and how to take it over" ||
	fail "vdi_unlock: $FOUT"
# Nothing was deleted or changed by the refusals.
[ -e "$FILE_SR_DIR/$V.vhd" ] && grep -q "host=xcp-host-07" "$FILE_SR_DIR/$V.lock" &&
	pass "the refusals changed nothing" || fail "a refusal changed the VDI or its lock"

# ---- breaking it as the fault says -----------------------------------------------
sm vdi_lock --vdi "$V" true ops-admin >/dev/null && sm vdi_unlock --vdi "$V" ops-admin >/dev/null &&
	[ ! -e "$FILE_SR_DIR/$V.lock" ] && sm vdi_delete --vdi "$V" >/dev/null &&
	pass "the forced vdi_lock the fault names breaks it; then unlock and delete work" ||
	fail "breaking the lock as the fault says did not work"
sm sr_scan | grep -q "<lock_user>" && fail "a released lock still shows its holder" ||
	pass "a released lock shows no holder"

# ---- a busy SR lock names the process ---------------------------------------------
mkdir -p "$SM_LOCK_DIR/$SR_UUID"
python3 - "$SM_LOCK_DIR/$SR_UUID/sr" "$T/held" <<'PY' &
import fcntl, sys, time, os
f = open(sys.argv[1], "a")
fcntl.lockf(f, fcntl.LOCK_EX)
open(sys.argv[2], "w").close()
time.sleep(30)
PY
holder=$!
for _ in $(seq 100); do [ -e "$T/held" ] && break; sleep 0.1; done
set +e
FOUT=$(SM_LOCK_TIMEOUT=1 sm vdi_create 16M x 2>&1)
set -e
kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null || true
[[ $FOUT =~ ^FAULT\ 47 ]] && [[ $FOUT =~ "held by pid $holder (python3)" ]] && [[ $FOUT =~ "stop pid $holder if it is stuck" ]] &&
	pass "a busy SR lock names the holder's pid and process, and what to do" || fail "SR lock busy: $FOUT"

finish
