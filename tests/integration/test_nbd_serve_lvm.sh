#!/usr/bin/env bash
# The data path of an LVMSR (drivers/vhdsr.c's serving over the LVM store):
# on a loop device, LVM's activation off (the plugin reads the LVs through
# their extent maps), vdi_activate starts nbdkit with lvm=DEV sr=UUID
# vdi=UUID; qemu-io writes; a snapshot pauses it and it serves the new
# leaf LV after; LVMSR's vdi_deactivate stops it; the data is read back
# through the store (vstore_lvm_t).  A raw LV VDI is served too.
BUILD=${1:-${BUILD:-build-test}}
export SR_UUID=5d1c7e2a-3b4f-4a6e-8c9d-0e1f2a3b4c5d
source "$(dirname "$0")/lib.sh"
set +e   # each check reports itself
need_root "loop devices and LVM"
need losetup=mount nbdkit=nbdkit qemu-io=qemu-utils
D="$BUILD/LVMSR"
C="$REPO/examples/dconf/lvm.conf"
TOOL="$BUILD/tests/vstore_lvm_t"
LVMT="$BUILD/tests/lvm_lv"
for x in "$D" "$TOOL" "$LVMT" "$XAPI_CHECK"; do
	[ -x "$x" ] || skip "$x not built (make TEST_BUILD=1 all-tests)"
done
[ -f "$BUILD/csm-nbdkit.so" ] || skip "$BUILD/csm-nbdkit.so is not built"
export CSM_NBD=on
nbdkit_for_drivers "$BUILD/csm-nbdkit.so"

LOOP=""
cleanup_lvm() {
	nbd_reap
	if [ -n "$LOOP" ]; then
		"$LVMT" "$LOOP" vgremove "VG_XenStorage-$SR_UUID" >/dev/null 2>&1 || true
		"$LVMT" "$LOOP" pvremove >/dev/null 2>&1 || true
		losetup -d "$LOOP" 2>/dev/null || true
	fi
	rm -rf "$T"
}
trap cleanup_lvm EXIT

lvm_test_env 1G
export LVM_SR_DEVICE=$LOOP
MiB=1048576
t() { "$TOOL" "$LOOP" "$SR_UUID" "$@"; }
lvm() { call "$1" "$D" "$C" "${@:2}"; }
pattern() { head -c "$2" /dev/zero | tr '\0' "\\$(printf '%03o' "$1")"; }
server_pid() { sed -n 's/^pid=//p' "$CSM_NBD_DIR/$SR_UUID/$1.server" 2>/dev/null; }
alive() { grep -q '^State:[[:space:]]*[^Z]' "/proc/$1/status" 2>/dev/null; }
qio() { local v=$1; shift; timeout 30 qemu-io -f raw "$@" "nbd+unix:///$v?socket=$CSM_NBD_DIR/$SR_UUID/$v" >"$T/qio" 2>&1; }

lvm unit sr_create 0 && lvm unit sr_attach || { finish; exit 1; }
A=aaaaaaaa-2222-4000-8000-000000000001
R=cccccccc-2222-4000-8000-000000000003
lvm vdi_info vdi_create --vdi "$A" 64M disk-a
lvm vdi_info vdi_create --vdi "$R" --sm-config type=raw 8M raw-r

# ---- a VHD VDI: activate, write, snapshot under the server, deactivate ---------
lvm attach vdi_attach --vdi "$A" true
lvm unit vdi_activate --vdi "$A" true && pass "LVMSR vdi_activate"
P=$(server_pid "$A")
alive "${P:-0}" && grep -q "lvm=$LOOP" "/proc/$P/cmdline" && grep -q "sr=$SR_UUID" "/proc/$P/cmdline" &&
	pass "the server reaches the VG as csm-gc does (lvm=$LOOP sr=...)" ||
	fail "no server, or not lvm= sr=: $(tr '\0' ' ' <"/proc/$P/cmdline" 2>/dev/null)"
qio "$A" -c "write -P 0x61 1M 1M" -c flush || fail "write to A: $(cat "$T/qio")"
lvm vdi_info vdi_snapshot --vdi "$A" && S=$(member uuid) && pass "snapshot of a served LVM VDI"
[ "$(server_pid "$A")" = "$P" ] || fail "the snapshot replaced the server"
qio "$A" -c "write -P 0x62 2M 1M" -c "read -P 0x61 1M 1M" -c flush &&
	pass "after the snapshot the server writes the new leaf and reads the base" || fail "after snapshot: $(cat "$T/qio")"
lvm unit vdi_deactivate --vdi "$A" && pass "LVMSR vdi_deactivate"
for _ in $(seq 50); do alive "$P" || break; sleep 0.1; done
alive "$P" && fail "server $P still runs after LVMSR's vdi_deactivate"
[ -z "$(ls -A "$CSM_NBD_DIR/$SR_UUID")" ] || fail "deactivate left $(ls -A "$CSM_NBD_DIR/$SR_UUID")"
t read "$A" $MiB $MiB | cmp -s - <(pattern 0x61 $MiB) && t read "$A" $((2 * MiB)) $MiB | cmp -s - <(pattern 0x62 $MiB) &&
	pass "the store reads what was written through the server" || fail "A's data through the store"
t read "$S" $((2 * MiB)) $MiB | cmp -s - <(pattern 0 $MiB) && t read "$S" $MiB $MiB | cmp -s - <(pattern 0x61 $MiB) &&
	pass "the snapshot holds the write before it and not the one after" || fail "snapshot's data"
lvm unit vdi_detach --vdi "$A"

# ---- a raw LV --------------------------------------------------------------------
lvm attach vdi_attach --vdi "$R" true
lvm unit vdi_activate --vdi "$R" true
qio "$R" -c "write -P 0x72 0 1M" -c flush -c "read -P 0x72 0 1M" && pass "a raw LV served" || fail "raw LV: $(cat "$T/qio")"
lvm unit vdi_deactivate --vdi "$R"
[ -z "$(ls -A "$CSM_NBD_DIR/$SR_UUID")" ] || fail "deactivate of the raw VDI left $(ls -A "$CSM_NBD_DIR/$SR_UUID")"
lvm unit vdi_detach --vdi "$R"
finish
