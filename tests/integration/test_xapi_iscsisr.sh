#!/usr/bin/env bash
# ISCSISR (RawISCSISR, a LUN per VDI) in xapi mode (issue 11) against the
# XenAPI test server, over a private tgtd (tests/iscsi/target.sh) on a host
# without a kernel initiator, as test_iscsisr.sh: sr_create/attach, sr_scan
# answering nil with the target's LUNs in the database (unmanaged) and the
# SR's sizes, vdi_create managing a LUN, vdi_delete unmanaging it; after every call the database equals the LUN list and the
# managed bits (tests/xapi/dbcheck.py); a LUN added to or removed from the
# target behind the driver's back introduced / forgotten by the next scan.  (No snapshot, clone, resize,
# activate or sr_update: RawISCSISR advertises none of them.)  chappassword_secret resolved
# through a secret record, the password in no answer, stderr or log line.
# The same calls in API mode make no XenAPI call; a dead, silent or slow
# endpoint is 154 in bounded time with the managed bits untouched.  In
# xapi mode the records hold the managed bits: another host's scan and
# vdi_create (its own empty state) see the LUN a VM uses as in use.
source "$(dirname "$0")/lib.sh"
source "$REPO/tests/xapi/check.sh"
set +e
D="$BUILD/ISCSISR"
C="$REPO/examples/dconf/iscsi.conf"
need_root "tgtd"
need python3=python3
source "$REPO/tests/iscsi/target.sh"
why=$(iscsi_target_check) || skip "$why"
[ -x "$D" ] || skip "$D not built"
# No iscsiadm on the driver's PATH: no kernel session, as test_iscsisr.sh.
mkdir -p "$T/no-iscsiadm"
printf '#!/bin/sh\nPATH=%s exec "%s" "$@"\n' "$T/no-iscsiadm" "$D" >"$T/ISCSISR"
chmod +x "$T/ISCSISR"
D="$T/ISCSISR"
trap 'xapi_stop_all; iscsi_target_stop || true; rm -rf "$T"' EXIT
iscsi_target_start "$T/tgt" || { fail "the test target did not start"; finish; }
export ISCSI_TARGET=127.0.0.1 ISCSI_TARGET_IQN=$ISCSI_IQN_PLAIN ISCSI_LOCAL_IQN=$ISCSI_INITIATOR
export ISCSI_TIMEOUT=3
export CSM_ISCSI_STATE_DIR="$T/state" CSM_SR_REF_DIR="$T/sr-ref"
STATE="$CSM_ISCSI_STATE_DIR/$SR_UUID"
# The target's LUNs as VDIs: md5 of the SCSIid (test_iscsisr.sh).
U1=cc26187c-5707-6d73-0070-e541a4ac88c7 U2=c558df94-29df-583e-f0fb-e552d2913125

storage_uuids() { printf '%s\n' "$U1" "$U2" | sort; }
storage_sum() { cat "$STATE" 2>/dev/null | sha1sum; }

xapi_start iscsi
XF_TYPE=iscsi
export CSM_XAPI=on
# In xapi mode the managed bits are the records' (as LUNperVDI.py keeps
# them), not this host's state file, which the API-mode scan reads.
export DBCHECK_ARGS=--managed-in-db
xcall unit "$D" "$C" sr_create 0 && pass "xapi mode: sr_create"
xcall unit "$D" "$C" sr_attach && pass "xapi mode: sr_attach"
xcall unit "$D" "$C" sr_scan && pass "xapi mode: sr_scan answers nil"
db_check "sr_scan: the LUNs, unmanaged" --sr-sizes "$D" "$C"
xcall vdi_info "$D" "$C" vdi_create 20M && [ "$(member uuid)" = "$U2" ] &&
	pass "xapi mode: vdi_create manages the 32 MiB LUN"
[ "$(vdi_field "$U2" managed)" = true ] && pass "vdi_create: the LUN's record is managed" ||
	fail "vdi_create: managed '$(vdi_field "$U2" managed)'"
db_check "vdi_create" "$D" "$C"
# Another host of the pool: its own (empty) state, the same database.  Its
# scan keeps U2 managed and its vdi_create hands out the other LUN: a LUN
# a VM uses is never handed out twice.
[ ! -e "$STATE" ] && pass "xapi mode: no host-local managed bits written" ||
	fail "xapi mode wrote $STATE: $(cat "$STATE")"
CSM_ISCSI_STATE_DIR="$T/other-host" xcall unit "$D" "$C" sr_scan &&
	[ "$(vdi_field "$U2" managed)" = true ] &&
	pass "another host's sr_scan keeps the LUN managed (the records hold the bit)" ||
	fail "another host's sr_scan: managed '$(vdi_field "$U2" managed)'"
CSM_ISCSI_STATE_DIR="$T/other-host" xcall vdi_info "$D" "$C" vdi_create 20M &&
	[ "$(member uuid)" = "$U1" ] && [ "$(vdi_field "$U1" managed)" = true ] &&
	pass "another host's vdi_create hands out the other LUN" ||
	fail "another host's vdi_create: got '$(member uuid)' (U2 is in use)"
CSM_ISCSI_STATE_DIR="$T/other-host" fault 44 "$D" "$C" vdi_create 8M &&
	pass "no unmanaged LUN left: 44"
xcall unit "$D" "$C" vdi_delete --vdi "$U1" && [ "$(vdi_field "$U1" managed)" = false ] &&
	pass "vdi_delete of the other host's VDI from here unmanages it" ||
	fail "vdi_delete U1: managed '$(vdi_field "$U1" managed)'"
xcall unit "$D" "$C" vdi_delete --vdi "$U2" && pass "xapi mode: vdi_delete"
[ "$(vdi_field "$U2" managed)" = false ] && pass "vdi_delete: the LUN's record stays, unmanaged" ||
	fail "vdi_delete: managed '$(vdi_field "$U2" managed)'"
db_check "vdi_delete" "$D" "$C"
# A LUN added to the target behind the driver's back is introduced by the
# next scan (unmanaged), one removed is forgotten.
SCSI3=360000000000000000e00000000010003
U3=$(printf %s "$SCSI3" | md5sum | sed 's/^\(........\)\(....\)\(....\)\(....\)\(............\).*/\1-\2-\3-\4-\5/')
truncate -s 16M "$T/lun3.img"
if iscsi_target_add_lun 1 3 "$T/lun3.img" >"$T/tgt3.out" 2>&1; then
	storage_uuids() { printf '%s\n' "$U1" "$U2" "$U3" | sort; }
	xcall unit "$D" "$C" sr_scan && [ -n "$(vdi_ref "$U3")" ] &&
		[ "$(vdi_field "$U3" managed)" = false ] &&
		pass "sr_scan introduced LUN 3 ($U3), added behind the driver's back, unmanaged" ||
		fail "LUN 3 added: record '$(vdi_ref "$U3")' managed '$(vdi_field "$U3" managed)'"
	db_check "LUN added behind the driver's back" --sr-sizes "$D" "$C"
	iscsi_tgtadm --mode logicalunit --op delete --tid 1 --lun 3 >"$T/tgt3.out" 2>&1 ||
		fail "tgtadm could not remove LUN 3: $(cat "$T/tgt3.out")"
	storage_uuids() { printf '%s\n' "$U1" "$U2" | sort; }
	xcall unit "$D" "$C" sr_scan && [ -z "$(vdi_ref "$U3")" ] &&
		pass "sr_scan forgot LUN 3, removed behind the driver's back" ||
		fail "LUN 3 removed: still in the database"
	db_check "LUN removed behind the driver's back" --sr-sizes "$D" "$C"
else
	fail "tgtadm could not add LUN 3: $(cat "$T/tgt3.out")"
fi
fault 38 "$D" "$C" sr_update && pass "sr_update is not RawISCSISR's (38): xapi does not call it"
unset CSM_XAPI

CHAP=(--dconf "targetIQN=$ISCSI_IQN_CHAP" --dconf "chapuser=$ISCSI_CHAP_USER")
xapi_secret_checks "$D" "$C" string "$ISCSI_CHAP_PASSWORD" sr_probe "${CHAP[@]}"
xapi_secret_checks "$D" "$C" unit "$ISCSI_CHAP_PASSWORD" sr_attach "${CHAP[@]}"
CSM_XAPI=off fault 20 "$D" "$C" sr_probe "${CHAP[@]}" --dconf chappassword_secret=0d7e1f2a-3b4c-4d5e-8f60-718293a4b5c6 &&
	pass "API mode: chappassword_secret is 20 (no XenAPI to resolve it)"

XAPI_NO_SNAPSHOT=1 XAPI_NO_UPDATE=1 XAPI_API_SIZE=20M xapi_api_mode "$D" "$C"
XF_VDI=$U1 xapi_faults 8000 "$D" "$C"
finish
