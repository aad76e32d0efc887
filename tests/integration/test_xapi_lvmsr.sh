#!/usr/bin/env bash
# LVMSR in xapi mode (issue 11) against the XenAPI test server
# (tests/xapi/server.py), on a loop device with LVM's activation off as
# test_lvmsr.sh: sr_create/attach, sr_scan answering nil with the SR's VDIs
# and sizes in the database, vdi_create, attach/activate (host_<ref>),
# snapshot of the active VDI (tapdisk-pause pause/unpause, the hidden base
# copy unmanaged and read-only), deactivate/detach, clone, resize, sr_update,
# delete; after every call the database equals what lvs and the VHD headers
# say (tests/xapi/dbcheck.py).  A VHD LV made and an LV removed behind the
# driver's back: introduced and forgotten by the next scan.  The same calls
# in API mode make no XenAPI call.  A dead, silent or slow endpoint: 154
# in bounded time with the LVs untouched; CSM_XAPI=on without a socket or
# session and CSM_XAPI=bogus: 154.
BUILD=${1:-${BUILD:-build-test}}
export SR_UUID=5d2c1b3a-7e4f-4a6b-8c9d-0e1f2a3b4c5d
source "$(dirname "$0")/lib.sh"
source "$REPO/tests/xapi/check.sh"
set +e   # each check reports itself
need_root "loop devices and LVM"
need losetup=mount truncate=coreutils python3=python3
D="$BUILD/LVMSR"
C="$REPO/examples/dconf/lvm.conf"
LVMT="$BUILD/tests/lvm_lv"
for x in "$D" "$LVMT" "$XAPI_CHECK"; do
	[ -x "$x" ] || skip "$x not built (make TEST_BUILD=1 all-tests)"
done

LOOP=""
VG="VG_XenStorage-$SR_UUID"
cleanup_all() {
	xapi_stop_all
	if [ -n "$LOOP" ]; then
		"$LVMT" "$LOOP" vgremove "$VG" >/dev/null 2>&1
		"$LVMT" "$LOOP" pvremove >/dev/null 2>&1
		losetup -d "$LOOP" 2>/dev/null
	fi
	rm -rf "$T"
}
trap cleanup_all EXIT
lvm_test_env 1G
export LVM_SR_DEVICE=$LOOP
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

xapi_start lvm
XF_TYPE=lvm
export CSM_XAPI=on
xcall unit "$D" "$C" sr_create 0 && pass "xapi mode: sr_create"
xcall unit "$D" "$C" sr_attach && pass "xapi mode: sr_attach"
xapi_vhd_lifecycle "$D" "$C"
unset CSM_XAPI
xapi_api_mode "$D" "$C"
xapi_faults 5000 "$D" "$C"
finish
