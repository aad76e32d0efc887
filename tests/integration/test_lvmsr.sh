#!/usr/bin/env bash
# LVMSR (type "lvm") end to end through smcall on loop devices, LVM's
# activation off (data through the extent map), a private LVM
# configuration (nothing written under /etc/lvm): sr_create, probe,
# attach, VDIs thick, thin and raw with LV sizes from block-family A.4,
# data written and read over the store, snapshot and clone layout (names,
# hidden, read-only base, dm-name locators, MGT slots), attach inflating
# and activating with refcount files, detach deflating, resize, the scan
# document (labels from MGT, a damaged LV reported), delete, detach,
# sr_delete; bad dconf and devices in use refused with nothing written;
# a non-master refused every metadata change; the PVs grown at attach.
BUILD=${1:-${BUILD:-build-test}}
export SR_UUID=6a2e1f4c-8b3d-4d5e-9f1a-2b3c4d5e6f70
source "$(dirname "$0")/lib.sh"
set +e   # each check reports itself
need_root "loop devices and LVM"
need losetup=mount truncate=coreutils python3=python3 mkswap=util-linux blkid=util-linux
D="$BUILD/LVMSR"
C="$REPO/examples/dconf/lvm.conf"
TOOL="$BUILD/tests/vstore_lvm_t"
LVMT="$BUILD/tests/lvm_lv"
for x in "$D" "$TOOL" "$LVMT" "$XAPI_CHECK"; do
	[ -x "$x" ] || skip "$x not built (make TEST_BUILD=1 all-tests)"
done

LOOP="" LOOP2=""
cleanup_lvm() {
	for l in $LOOP $LOOP2; do
		"$LVMT" "$l" vgremove "VG_XenStorage-$SR_UUID" >/dev/null 2>&1 || true
		"$LVMT" "$l" vgremove "VG_other" >/dev/null 2>&1 || true
		"$LVMT" "$l" pvremove >/dev/null 2>&1 || true
		losetup -d "$l" 2>/dev/null || true
	done
	rm -rf "$T"
}
trap cleanup_lvm EXIT

mkdir -p "$T/lvm" "$T/refcount"
printf 'backup {\n\tbackup = 0\n\tarchive = 0\n}\n' >"$T/lvm/lvm.conf"
export LVM_SYSTEM_DIR="$T/lvm" CSM_LVM_ACTIVATION=off SM_REFCOUNT_DIR="$T/refcount"
truncate -s 2G "$T/pv.img"
truncate -s 64M "$T/pv2.img"
LOOP=$(losetup -f --show "$T/pv.img" 2>"$T/losetup.err") ||
	skip "no loop device: $(cat "$T/losetup.err")"
LOOP2=$(losetup -f --show "$T/pv2.img" 2>"$T/losetup.err") ||
	skip "no second loop device: $(cat "$T/losetup.err")"
export LVM_SR_DEVICE=$LOOP

VG="VG_XenStorage-$SR_UUID"
NS="$T/refcount/lvm-$SR_UUID"
MIB=1048576
t() { "$TOOL" "$LOOP" "$SR_UUID" "$@"; }
lvt() { "$LVMT" "$LOOP" "$@" 2>/dev/null; }
# name|size|attr|tags|ro|segments of one LV ("" when absent)
lv_row() { lvt lvs "$VG" | grep "^$1|" || true; }
lv_size() { lv_row "$1" | cut -d'|' -f2; }
lv_names() { lvt lvs "$VG" | cut -d'|' -f1 | sort | tr '\n' ' '; }
dm() { echo "VG_XenStorage--${SR_UUID//-/--}-${1//-/--}"; }
expect() { # expect <what> <want> <got>
	if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: want '$2', got '$3'"; fi
}
# The first 4 MiB of a device: what a refused call must not have touched.
head_sum() { head -c $((4 * MIB)) "$1" | sha1sum | cut -d' ' -f1; }
lvm() { call "$1" "$D" "$C" "${@:2}"; }
thin() { call "$1" "$D" "$C" --dconf allocation=thin "${@:2}"; }
slave() { call "$1" "$D" "$C" --slave "${@:2}"; }
# scan_field <uuid> <field>: that VDI's element in the last sr_scan document.
scan_field() {
	string_result | python3 -c '
import sys, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.read())
for v in root.findall("vdi"):
    if v.findtext("uuid") == sys.argv[1]:
        print(v.findtext(sys.argv[2]) or "")
' "$1" "$2"
}

# ---- driver info ------------------------------------------------------------------
call driver_info "$D" "$C" sr_get_driver_info || true
printf '%s' "$OUT" | grep -q '<string>Local VHD on LVM</string>' && pass "driver info: LVHDSR's name" ||
	fail "driver info name"
printf '%s' "$OUT" | grep -q '<string>allocation</string>' && pass "driver info: allocation key" ||
	fail "driver info: no allocation key"

# ---- bad input: right codes, nothing written ---------------------------------------
before=$(head_sum "$LOOP")
fault 90 "$D" "$C" --dconf device= sr_create 0
fault 91 "$D" "$C" --dconf device=/dev/no-such-device sr_create 0
fault 91 "$D" "$C" --dconf device=dev/loop0 sr_create 0
fault 91 "$D" "$C" --dconf "device=$LOOP,,$LOOP2" sr_create 0
fault 91 "$D" "$C" --dconf "device=$LOOP,$LOOP" sr_create 0
fault 91 "$D" "$C" --dconf "device=$T/pv.img" sr_create 0
fault 1 "$D" "$C" --dconf allocation=fat sr_create 0
fault 1 "$D" "$C" --dconf allocation=THIN sr_create 0
expect "refused creates wrote nothing" "$before" "$(head_sum "$LOOP")"
# In use: a signature, another VG's PV, opened exclusively elsewhere.
mkswap "$LOOP2" >/dev/null 2>&1
before2=$(head_sum "$LOOP2")
fault 56 "$D" "$C" --dconf "device=$LOOP2" sr_create 0
fault 56 "$D" "$C" --dconf "device=$LOOP,$LOOP2" sr_create 0
expect "swap device untouched" "$before2" "$(head_sum "$LOOP2")"
expect "first device of the pair untouched" "$before" "$(head_sum "$LOOP")"
wipefs -a -q "$LOOP2"
"$LVMT" "$LOOP2" pvcreate >/dev/null 2>&1 && "$LVMT" "$LOOP2" vgcreate VG_other >/dev/null 2>&1 ||
	fail "cannot make another VG on $LOOP2"
before2=$(head_sum "$LOOP2")
fault 56 "$D" "$C" --dconf "device=$LOOP2" sr_create 0
expect "other VG's PV untouched" "$before2" "$(head_sum "$LOOP2")"
"$LVMT" "$LOOP2" vgremove VG_other >/dev/null 2>&1
"$LVMT" "$LOOP2" pvremove >/dev/null 2>&1
python3 -c 'import os, sys, time; fd = os.open(sys.argv[1], os.O_RDONLY | os.O_EXCL); print("held", flush=True); time.sleep(60)' \
	"$LOOP2" >"$T/held" &
HOLDER=$!
for _ in $(seq 50); do grep -q held "$T/held" && break; sleep 0.1; done
fault 16 "$D" "$C" --dconf "device=$LOOP2" sr_create 0
kill "$HOLDER" 2>/dev/null; wait "$HOLDER" 2>/dev/null || true
fault 58 "$D" "$C" --slave sr_create 0
expect "non-master create wrote nothing" "$before" "$(head_sum "$LOOP")"
fault 47 "$D" "$C" sr_attach

# ---- create, probe, attach --------------------------------------------------------------
lvm unit sr_create 0 && pass "sr_create"
expect "MGT of 4 MiB" $((4 * MIB)) "$(lv_size MGT)"
fault 42 "$D" "$C" sr_create 0
lvm string sr_probe
expect "probe lists the SR" "$SR_UUID $LOOP" \
	"$(string_result | python3 -c 'import sys, xml.etree.ElementTree as E
s = E.fromstring(sys.stdin.read()).find("SR"); print(s.findtext("UUID"), s.findtext("Devlist"))')"
lvm unit sr_attach && pass "sr_attach"

# ---- VDIs: LV names and sizes (block-family A.4) ---------------------------------------------
A=aaaaaaaa-1111-4000-8000-000000000001
B=bbbbbbbb-1111-4000-8000-000000000002
R=cccccccc-1111-4000-8000-000000000003
lvm vdi_info vdi_create --vdi "$A" 100M disk-a "the first"
thin vdi_info vdi_create --vdi "$B" 1G disk-b
lvm vdi_info vdi_create --vdi "$R" --sm-config type=raw 10M raw-r
expect "thick 100 MiB VHD: LV VHD-<uuid> of 108 MiB" $((108 * MIB)) "$(lv_size "VHD-$A")"
expect "thin 1 GiB VHD: LV of 8 MiB" $((8 * MIB)) "$(lv_size "VHD-$B")"
expect "raw 10 MiB: LV LV-<uuid> of 12 MiB" $((12 * MIB)) "$(lv_size "LV-$R")"
expect "VHD preallocated for 2 TiB" "max_bat=1048576" "$(t query "$B" | grep -o 'max_bat=[0-9]*')"
expect "MGT slot of A" "label=disk-a type=user read_only=0" "$(t meta "$A" | cut -d' ' -f1-3)"
fault 43 "$D" "$C" vdi_create --vdi "$A" 100M

# ---- data through the extent map ----------------------------------------------------------------
head -c $((3 * MIB)) /dev/urandom >"$T/data"
t write "$A" "$MIB" "$T/data" >/dev/null || fail "write A"
t read "$A" "$MIB" $((3 * MIB)) | cmp -s - "$T/data" && pass "data written to A reads back" ||
	fail "A's data"

# ---- attach, activate, detach: refcounts, inflate, deflate ---------------------------------------
lvm attach vdi_attach --vdi "$A" true
expect "attach answers the LV's path" "/dev/$VG/VHD-$A" "$(member params)"
expect "attach: storage-type lvm" lvm "$(printf '%s' "$OUT" | sed -n '/storage-type/{n;s/.*<string>\(.*\)<\/string>.*/\1/p}')"
expect "attach: leaf's binary count" "0 1" "$(cat "$NS/$A" 2>/dev/null)"
lvm unit vdi_activate --vdi "$A" true
lvm unit vdi_deactivate --vdi "$A"
expect "deactivate keeps the count until detach" "0 1" "$(cat "$NS/$A" 2>/dev/null)"
lvm unit vdi_detach --vdi "$A"
[ -e "$NS/$A" ] && fail "count left after detach" || pass "detach drops the count"
expect "thick: A stays inflated after detach" $((108 * MIB)) "$(lv_size "VHD-$A")"
thin attach vdi_attach --vdi "$B" true
expect "thin RW attach inflates to 1 GiB + 8 MiB" 1082130432 "$(lv_size "VHD-$B")"
thin unit vdi_detach --vdi "$B"
expect "thin detach deflates to 8 MiB" $((8 * MIB)) "$(lv_size "VHD-$B")"
thin attach vdi_attach --vdi "$B" false
expect "thin RO attach does not inflate" $((8 * MIB)) "$(lv_size "VHD-$B")"
thin unit vdi_detach --vdi "$B"
lvm unit vdi_detach --vdi "$B" && pass "detach of a detached VDI is a no-op"

# ---- snapshot and clone: layout ---------------------------------------------------------------------
lvm vdi_info vdi_snapshot --vdi "$A" --driver-param type=double
S=$(member uuid)
lvm string sr_scan
BASE=$(scan_field "$A" parent)
[ -n "$BASE" ] && [ "$BASE" != "$A" ] && pass "snapshot: A has a base copy" || fail "no base: '$BASE'"
expect "base hidden" true "$(scan_field "$BASE" hidden)"
expect "base read-only" true "$(scan_field "$BASE" read_only)"
expect "base label from MGT" "base copy" "$(scan_field "$BASE" label)"
expect "base LV read-only" 1 "$(lv_row "VHD-$BASE" | cut -d'|' -f5)"
expect "snapshot's parent is the base" "$BASE" "$(scan_field "$S" parent)"
expect "A's locator: the base's dm name" "./$(dm "VHD-$BASE")" \
	"$(t query "$A" | grep -o 'parent_locator=[^ ]*' | cut -d= -f2)"
expect "A's prt_name: the dm name" "$(dm "VHD-$BASE")" \
	"$(t query "$A" | grep -o 'parent_name=[^ ]*' | cut -d= -f2)"
expect "thick: A (not a snapshot) inflated again" $((108 * MIB)) "$(lv_size "VHD-$A")"
expect "snapshot leaf thin" $((8 * MIB)) "$(lv_size "VHD-$S")"
expect "snapshot's MGT slot" "is_a_snapshot=1 snapshot_of=$A" "$(t meta "$S" | cut -d' ' -f4-5)"
expect "A's label kept" disk-a "$(scan_field "$A" label)"
t read "$S" "$MIB" $((3 * MIB)) | cmp -s - "$T/data" && pass "snapshot reads A's data" ||
	fail "snapshot's data"
t read "$A" "$MIB" $((3 * MIB)) | cmp -s - "$T/data" && pass "A reads its data through the base" ||
	fail "A's data after snapshot"
head -c $MIB /dev/urandom >"$T/data2"
t write "$A" $((8 * MIB)) "$T/data2" >/dev/null || fail "write A after snapshot"
lvm vdi_info vdi_clone --vdi "$A"
K=$(member uuid)
expect "thick clone leaf fully inflated" $((108 * MIB)) "$(lv_size "VHD-$K")"
t read "$K" $((8 * MIB)) "$MIB" | cmp -s - "$T/data2" && pass "clone reads the data" ||
	fail "clone's data"
t check "$A" >/dev/null && t check "$K" >/dev/null && t check "$S" >/dev/null &&
	pass "every chain checks" || fail "chain check"
[ "$(lvt lvs "$VG" | grep -c journaler)" = 0 ] && pass "no journal LV left" || fail "journal left"

# ---- resize ------------------------------------------------------------------------------------------
lvm vdi_info vdi_resize --vdi "$A" 1G
expect "resize: virtual size" "virtual=1073741824" "$(t query "$A" | grep -o 'virtual=[0-9]*')"
expect "resize: thick LV 1 GiB + 8 MiB" 1082130432 "$(lv_size "VHD-$A")"
t read "$A" $((8 * MIB)) "$MIB" | cmp -s - "$T/data2" && pass "resize keeps the data" ||
	fail "data after resize"
thin vdi_info vdi_resize --vdi "$B" 1536M
expect "thin resize keeps a detached VDI deflated" $((8 * MIB)) "$(lv_size "VHD-$B")"
fault 110 "$D" "$C" vdi_resize --vdi "$BASE" 2G

# ---- scan: labels from MGT, a damaged LV reported -------------------------------------------------
X=dddddddd-1111-4000-8000-000000000004
lvt lvcreate "$VG" "VHD-$X" $((4 * MIB)) || fail "lvcreate damaged"
lvm string sr_scan && pass "scan with a damaged LV succeeds"
[ -n "$(scan_field "$X" error)" ] && pass "damaged LV reported: $(scan_field "$X" error)" ||
	fail "damaged LV not reported"
expect "labels from MGT" "disk-a|disk-b|raw-r" \
	"$(scan_field "$A" label)|$(scan_field "$B" label)|$(scan_field "$R" label)"
expect "description from MGT" "the first" "$(scan_field "$A" description)"
expect "raw VDI type (the generic scan's name)" raw "$(scan_field "$R" type)"
lvm unit vdi_update --vdi "$A" && pass "vdi_update"
lvt lvremove "$VG" "VHD-$X"

# ---- non-master ------------------------------------------------------------------------------------------
names=$(lv_names)
fault 58 "$D" "$C" --slave vdi_create 10M
fault 58 "$D" "$C" --slave vdi_delete --vdi "$K"
fault 58 "$D" "$C" --slave vdi_snapshot --vdi "$A" --driver-param type=double
fault 58 "$D" "$C" --slave vdi_clone --vdi "$A"
fault 58 "$D" "$C" --slave vdi_resize --vdi "$A" 2G
fault 58 "$D" "$C" --slave sr_delete
expect "non-master changed no LV" "$names" "$(lv_names)"
slave string sr_scan && pass "non-master scans"
slave attach vdi_attach --vdi "$K" false && pass "non-master attaches read-only"
slave unit vdi_detach --vdi "$K" && pass "non-master detaches"
slave attach vdi_attach --vdi "$A" true && pass "non-master attaches an inflated VDI writable"
slave unit vdi_detach --vdi "$A"
fault 58 "$D" "$C" --slave --dconf allocation=thin vdi_attach --vdi "$B" true
expect "non-master inflated nothing" $((8 * MIB)) "$(lv_size "VHD-$B")"

# ---- the SR grows with its device ------------------------------------------------------------------
size0=$(lvt vgs "$VG" | awk '{print $2}')
truncate -s 3G "$T/pv.img" && losetup -c "$LOOP"
lvm unit sr_attach
size1=$(lvt vgs "$VG" | awk '{print $2}')
[ "$size1" -gt $((size0 + 900 * MIB)) ] && pass "sr_attach grew the VG ($size0 -> $size1)" ||
	fail "VG not grown: $size0 -> $size1"

# ---- delete, detach, sr_delete ------------------------------------------------------------------------
fault 39 "$D" "$C" sr_delete
lvm unit vdi_delete --vdi "$K"
[ -z "$(lv_row "VHD-$K")" ] && pass "vdi_delete removes the LV" || fail "LV of K left"
lvm unit vdi_delete --vdi "$S"
lvm unit vdi_delete --vdi "$A"
lvm unit vdi_delete --vdi "$B"
lvm unit vdi_delete --vdi "$R"
lvm string sr_scan
expect "scan of the emptied SR" 0 "$(string_result | grep -c '<vdi>')"
lvm unit sr_detach && pass "sr_detach"
[ -e "$NS" ] && fail "refcount namespace left" || pass "sr_detach drops the counts"
lvm unit sr_detach && pass "sr_detach twice"
lvm unit sr_delete && pass "sr_delete"
expect "no PV label left" "" "$(blkid -p -o value -s TYPE "$LOOP" 2>/dev/null)"
lvm string sr_probe
expect "probe after delete: an empty list" 1 "$(printf '%s' "$OUT" | grep -c 'SRlist/&gt;')"
finish
