#!/usr/bin/env bash
# LVMoISCSISR in xapi mode (issue 11) against the XenAPI test server, over
# a private tgtd with the LUN's backing file on a loop device
# (CSM_ISCSI_DEVICE_MAP) and LVM's activation off, as test_lvmoiscsisr.sh:
# the VHD lifecycle of tests/xapi/check.sh (sr_scan nil with the database
# filled, create, attach/activate with host_<ref>, snapshot of the active
# VDI pausing it through tapdisk-pause, the base copy unmanaged read-only,
# clone, resize, sr_update, delete, LVs made and removed behind the
# driver's back), the database equal to lvs and the VHD headers after
# every call; chappassword_secret resolved through a secret record for the
# CHAP target's LUN list, the password in no answer, stderr or log line;
# API mode making no XenAPI call; a dead, silent or slow endpoint 154 in
# bounded time with the LVs untouched.
BUILD=${1:-${BUILD:-build-test}}
export SR_UUID=9e4f5a6b-1c2d-4e3f-8a4b-5c6d7e8f9a01
source "$(dirname "$0")/lib.sh"
source "$REPO/tests/xapi/check.sh"
set +e
need_root "tgtd, loop devices and LVM"
need losetup=mount python3=python3
source "$REPO/tests/iscsi/target.sh"
why=$(iscsi_target_check) || skip "$why"
D="$BUILD/LVMoISCSISR"
C="$REPO/examples/dconf/lvmoiscsi.conf"
LVMT="$BUILD/tests/lvm_lv"
for x in "$D" "$LVMT" "$XAPI_CHECK" "$SMCALL"; do
	[ -x "$x" ] || skip "$x not built (make TEST_BUILD=1 all-tests)"
done
SCSI1=360000000000000000e00000000010001
SCSI2=3600000000000000000000e0012345678
VG="VG_XenStorage-$SR_UUID"
LOOP="" LOOP2=""
cleanup_all() {
	xapi_stop_all
	[ -n "$LOOP" ] && "$LVMT" "$LOOP" vgremove "$VG" >/dev/null 2>&1
	for l in $LOOP $LOOP2; do
		"$LVMT" "$l" pvremove >/dev/null 2>&1
		losetup -d "$l" 2>/dev/null
	done
	iscsi_target_stop
	rm -rf "$T"
}
trap cleanup_all EXIT
export ISCSI_LUN1_SIZE=512M
iscsi_target_start "$T/tgt" || { fail "tgtd did not start"; finish; }
LOOP=$(losetup -f --show "$ISCSI_LUN_DIR/lun1.img" 2>"$T/losetup.err") ||
	skip "no loop device: $(cat "$T/losetup.err")"
LOOP2=$(losetup -f --show "$ISCSI_LUN_DIR/lun2.img" 2>"$T/losetup.err") ||
	skip "no second loop device: $(cat "$T/losetup.err")"
mkdir -p "$T/lvm" "$T/refcount" "$T/sr-ref"
printf 'backup {\n\tbackup = 0\n\tarchive = 0\n}\n' >"$T/lvm/lvm.conf"
export LVM_SYSTEM_DIR="$T/lvm" CSM_LVM_ACTIVATION=off SM_REFCOUNT_DIR="$T/refcount" \
	CSM_SR_REF_DIR="$T/sr-ref" CSM_ISCSI_DEVICE_MAP="$SCSI1=$LOOP,$SCSI2=$LOOP2"
export ISCSI_TIMEOUT=3 ISCSI_TARGET=127.0.0.1 ISCSI_TARGET_IQN=$ISCSI_IQN_PLAIN ISCSI_SCSIID=$SCSI1 \
	ISCSI_LOCAL_IQN=$ISCSI_INITIATOR
MIB=1048576
lvt() { "$LVMT" "$LOOP" "$@" 2>/dev/null; }
storage_uuids() { lvt lvs "$VG" | cut -d'|' -f1 | sed -n 's/^\(VHD\|LV\)-//p' | sort; }
storage_sum() { { lvt lvs "$VG"; head -c $((4 * MIB)) "$LOOP" | sha1sum; } | sha1sum; }
behind_add() {
	lvt lvcreate "$VG" "VHD-$1" $((8 * MIB)) && lvt vhd-create "$VG" "VHD-$1" $((4 * MIB)) >/dev/null ||
		fail "cannot make VHD-$1 behind the driver's back"
}
behind_rm() { lvt lvremove "$VG" "VHD-$1" || fail "cannot lvremove VHD-$1"; }
# An LV named like a VHD VDI with no VHD in it: the scan reports it with an error.
behind_damage() { lvt lvcreate "$VG" "VHD-$1" $((4 * MIB)) || fail "cannot make the bare LV VHD-$1"; }

xapi_start lvmoiscsi
XF_TYPE=lvmoiscsi
export CSM_XAPI=on
xcall unit "$D" "$C" sr_create 0 && pass "xapi mode: sr_create"
xcall unit "$D" "$C" sr_attach && pass "xapi mode: sr_attach"
xapi_vhd_lifecycle "$D" "$C"
unset CSM_XAPI

# CHAP through a secret: the LUN list of the CHAP target (107 with the
# list on stderr, as with chappassword in test_lvmoiscsisr.sh).
CHAP=(--dconf "targetIQN=$ISCSI_IQN_CHAP" --dconf "chapuser=$ISCSI_CHAP_USER" --dconf SCSIid=)
xapi_secret_checks "$D" "$C" fault:107 "$ISCSI_CHAP_PASSWORD" sr_probe "${CHAP[@]}"
grep -q "<SCSIid>360000000000000000e00000000020001</SCSIid>" "$T/secret.stderr" &&
	pass "the CHAP target's LUN list read with the secret's password" ||
	fail "no LUN list with the secret's password: $(head -c 300 "$T/secret.stderr")"

xapi_api_mode "$D" "$C"
xapi_faults 8000 "$D" "$C"
finish
