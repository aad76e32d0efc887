#!/usr/bin/env bash
# LV-level LVM calls (lib/lvm.c) and VHDs inside LVs through the extent map
# (lib/vhdio_lv.c), on loop devices, with activation off (this kernel has no
# device-mapper; CSM_LVM_ACTIVATION=off makes it so everywhere) and a private
# LVM configuration: nothing may be written under /etc/lvm.
#
#   - PV/VG with the Python SM's parameters (extent 4 MiB, pe_start 11 MiB);
#   - lvcreate with tags and read-only, lvrename (refused onto an existing
#     LV), lvresize up and down, lvchange -p r|rw, tags, activation a no-op,
#     vgextend, pvresize, a non-master refused, the parsed lvs report against
#     the lvs command's own;
#   - a deadline: an LVM child made to hang (test-build pause) is killed, the
#     call answers within the deadline and no child is left;
#   - an LVHD-style chain written through the extent map: a 2 TiB-
#     preallocated VHD over a two-segment LV, inflated (footer moved), a
#     snapshot child with a dm-name locator, read back and checked, then the
#     same bytes taken off the PV with dd and read by vhdtool, vhd_read.py
#     and qemu-img.  The PV has 4 KiB logical sectors, so the VHD code's
#     512-byte writes are read-modify-writes of whole device blocks.
source "$(dirname "$0")/lib.sh"
TOOL="$BUILD/tests/lvm_lv"
need_root "loop devices, LVM"
need losetup=mount truncate=coreutils dd=coreutils lvs=lvm2 pvs=lvm2 vgremove=lvm2 \
	pvremove=lvm2 python3=python3 qemu-img=qemu-utils
[ -x "$TOOL" ] || skip "$TOOL not built (make BUILD=... TEST_BUILD=1 all-tests)"

export CSM_LVM_ACTIVATION=off
# The test's own LVM commands read a private, empty configuration.
export LVM_SYSTEM_DIR="$T/lvm"
mkdir -p "$LVM_SYSTEM_DIR"
printf 'global {\n\tactivation = 0\n}\nbackup {\n\tbackup = 0\n\tarchive = 0\n}\n' >"$LVM_SYSTEM_DIR/lvm.conf"
MARK="$T/etc-lvm-mark"
touch "$MARK"
sleep 1

SR=$SR_UUID
VG="VG_XenStorage-$SR"
MiB=1048576
LOOPS=()
lvm_cleanup() {
	local l
	if [ ${#LOOPS[@]} -ne 0 ]; then
		vgremove --config "$(lvm_cfg)" -f "$VG" >/dev/null 2>&1 || true
		for l in "${LOOPS[@]}"; do
			pvremove --config "$(lvm_cfg)" -ff -y "$l" >/dev/null 2>&1 || true
			losetup -d "$l" 2>/dev/null || true
		done
	fi
	cleanup
}
trap lvm_cleanup EXIT
# new_loop NAME SIZE [SECTOR]: a sparse file in $T on a loop device; sets LOOP.
new_loop() {
	truncate -s "$2" "$T/$1.img"
	LOOP=$(losetup -f --show ${3:+--sector-size "$3"} "$T/$1.img" 2>"$T/losetup.err") || {
		fail "no loop device for $1: $(cat "$T/losetup.err")"
		finish
	}
	LOOPS+=("$LOOP")
}
lvm_cfg() {
	local f="" d
	for d in "${LOOPS[@]}"; do f="$f\"a|^$d\$|\","; done
	echo "devices{filter=[$f\"r|.*|\"] global_filter=[$f\"r|.*|\"] use_devicesfile=0} global{activation=0} backup{backup=0 archive=0}"
}
# t ARGS...: the tool on the SR's devices; OUT, ERR, RC.
t() {
	local devs
	devs=$(IFS=,; echo "${LOOPS[*]}")
	set +e
	"$TOOL" "${TOPTS[@]}" "$devs" "$@" >"$T/t.out" 2>"$T/t.err"
	RC=$?
	set -e
	OUT=$(tr -d '\0' <"$T/t.out")
	ERR=$(cat "$T/t.err")
}
TOPTS=()
ok() { t "$@"; [ "$RC" -eq 0 ] || { fail "$*: exit $RC: $OUT $ERR"; return 1; }; }
# lv_field NAME N: field N (1-based) of the tool's lvs row for NAME.
lv_field() { t lvs "$VG"; awk -F'|' -v n="$1" -v f="$2" '$1 == n { print $f }' <<<"$OUT"; }
uuid() { cat /proc/sys/kernel/random/uuid; }

# 4 KiB logical sectors: the VHD code's 512-byte writes take the extent
# io's read-modify-write path, with O_DIRECT on a real block device.
new_loop pv1 1G 4096; PV1=$LOOP

# --- PV and VG --------------------------------------------------------------
ok pvcreate && ok vgcreate "$VG" && pass "pvcreate/vgcreate --metadatasize 10M"
ok vgs "$VG"
read -r VSIZE VFREE EXT PVS <<<"$OUT"
[ "$EXT" = 4194304 ] && pass "extent size 4 MiB" || fail "extent size $EXT"
# 1 GiB less 11 MiB is 253 whole extents.
[ "${PVS#*:}" = "11534336:253" ] && pass "pe_start 11 MiB (1 MiB alignment + 10 MiB metadata), 253 extents" ||
	fail "PV row $PVS"
[ "$VSIZE" = "$VFREE" ] || fail "a new VG has size $VSIZE, free $VFREE"
t vgs VG_XenStorage-nosuch
[ "$OUT" = absent ] && pass "a VG LVM does not see is absent, not a failure" || fail "vgs of no VG: $RC $OUT"

# --- LVs --------------------------------------------------------------------
ok lvcreate "$VG" MGT $((4 * MiB))
ok lvcreate "$VG" jtest 5000000 journaler other_tag
[ "$(lv_field jtest 2)" = $((8 * MiB)) ] && pass "lvcreate rounds up to whole extents" ||
	fail "size of jtest: $(lv_field jtest 2)"
[ "$(lv_field jtest 4)" = "journaler,other_tag" ] && pass "lvcreate tags" || fail "tags: $(lv_field jtest 4)"
ok lvcreate "$VG" robase $((4 * MiB)) ro
[ "$(lv_field robase 5)" = 1 ] && [ "$(lv_field robase 3 | cut -c2)" = r ] &&
	pass "lvcreate read-only (attr $(lv_field robase 3))" || fail "robase: $(lv_field robase 3)"
t lvcreate "$VG" MGT $((4 * MiB))
[ "$RC" -ne 0 ] && grep -q '^FAULT 50 ' <<<"$OUT" && pass "lvcreate of an existing name is 50" || fail "lvcreate twice: $OUT"
t lvrename "$VG" jtest MGT
[ "$RC" -ne 0 ] && grep -q 'already exists' <<<"$OUT" && pass "lvrename onto an existing LV is refused" ||
	fail "lvrename onto MGT: $RC $OUT"
[ -n "$(lv_field jtest 1)" ] && [ "$(lv_field MGT 2)" = $((4 * MiB)) ] || fail "the refused rename changed something"
ok lvrename "$VG" jtest inflate_x_1 && [ -n "$(lv_field inflate_x_1 1)" ] && [ -z "$(lv_field jtest 1)" ] &&
	pass "lvrename"
ok lvresize "$VG" inflate_x_1 $((24 * MiB)) && [ "$(lv_field inflate_x_1 2)" = $((24 * MiB)) ] &&
	pass "lvresize up"
ok lvresize "$VG" inflate_x_1 $((12 * MiB)) && [ "$(lv_field inflate_x_1 2)" = $((12 * MiB)) ] &&
	pass "lvresize down (no prompt)"
ok perm "$VG" inflate_x_1 r && [ "$(lv_field inflate_x_1 5)" = 1 ] && pass "lvchange -p r"
ok perm "$VG" inflate_x_1 r && pass "lvchange -p r again is no failure"
ok perm "$VG" inflate_x_1 rw && [ "$(lv_field inflate_x_1 5)" = 0 ] && pass "lvchange -p rw"
ok addtag "$VG" inflate_x_1 hidden && [ "$(lv_field inflate_x_1 4)" = "hidden,journaler,other_tag" ] &&
	pass "addtag"
ok deltag "$VG" inflate_x_1 other_tag && [ "$(lv_field inflate_x_1 4)" = "hidden,journaler" ] && pass "deltag"
t addtag "$VG" inflate_x_1 'bad|tag'
grep -q "is not an LVM tag" <<<"$OUT" && pass "a tag LVM cannot carry is refused" || fail "bad tag: $OUT"
t lvcreate "$VG" "-an" $MiB
grep -q "not an LVM LV name" <<<"$OUT" && pass "an LV name that is an option is refused" || fail "LV -an: $OUT"
for a in on off refresh; do
	ok activate "$VG" MGT $a && [ "$OUT" = noop ] || fail "activate $a with activation off: $OUT"
done
pass "activation is a no-op, reported as such, with activation off"
TOPTS=(--slave)
t lvcreate "$VG" slave_lv $MiB
grep -q '^FAULT 58 ' <<<"$OUT" && pass "a non-master may not lvcreate (58)" || fail "slave lvcreate: $OUT"
t lvs "$VG"
[ "$RC" -eq 0 ] && [ -z "$(lv_field slave_lv 1)" ] && pass "a non-master reads reports" || fail "slave lvs: $OUT"
ok activate "$VG" MGT on
TOPTS=()
ok lvremove "$VG" inflate_x_1 && [ -z "$(lv_field inflate_x_1 1)" ] && pass "lvremove"

# The parsed report against the lvs command's own.
t lvs "$VG"
MINE=$(awk -F'|' '{ print $1, $2, $4 }' <<<"$OUT" | sort)
THEIRS=$(lvs --config "$(lvm_cfg)" --noheadings --units b --nosuffix --separator ' ' -o lv_name,lv_size,lv_tags "$VG" 2>/dev/null |
	sed 's/^ *//; s/ *$//' | awk '{ print $1, $2, $3 }' | sort)
[ "$MINE" = "$THEIRS" ] && pass "the parsed lvs report is lvs's own" || fail "lvs differs:"$'\n'"$MINE"$'\n---\n'"$THEIRS"

# --- deadlines --------------------------------------------------------------
if [ -n "$(CSM_FAULT_LOG=$T/points "$TOOL" "$PV1" vgs "$VG" 2>/dev/null; cat "$T/points" 2>/dev/null)" ]; then
	start=$(date +%s%N)
	TOPTS=(--timeout 1000)
	CSM_FAULT_PAUSE=lvm-lvs CSM_FAULT_PAUSE_MS=30000 t lvs "$VG"
	TOPTS=()
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	grep -q '^FAULT 202 lvs did not finish in 1000 ms' <<<"$OUT" || fail "hung lvs: $OUT"
	[ "$ms" -lt 3000 ] && pass "a hung LVM command answers a fault within its deadline (${ms} ms)" ||
		fail "the hung lvs took $ms ms"
	grep -q '^children: 0 abandoned: 0$' <<<"$ERR" && pass "the hung child was killed and reaped" ||
		fail "children left: $ERR"
	pgrep -x lvm_lv >/dev/null && fail "an lvm_lv process is still running" || true
	CSM_FAULT_POINT=lvm-vgs t vgs "$VG"
	grep -q 'killed by signal 9' <<<"$OUT" && pass "an LVM child that dies is a fault, not a hang" ||
		fail "killed vgs: $OUT"
else
	skip_part "deadline: $TOOL has no fault points (build with TEST_BUILD=1)"
fi

# --- a VHD in a two-segment LV, through the extent map -----------------------
B=$(uuid); L=$(uuid)
ok lvcreate "$VG" "VHD-$B" $((8 * MiB))
ok lvcreate "$VG" spacer $((4 * MiB))
# Thick LV for 100 MiB: calcSizeVHDLV(100 MiB) = 108 MiB; it now spans two segments.
ok lvresize "$VG" "VHD-$B" $((108 * MiB))
SEGS=$(lv_field "VHD-$B" 6)
[ "$(tr ',' '\n' <<<"$SEGS" | wc -l)" = 2 ] && pass "VHD-$B has two segments ($SEGS)" || fail "segments: $SEGS"
ok vhd-create "$VG" "VHD-$B" $((100 * MiB))
ok vhd-query "$VG" "VHD-$B"
grep -q 'max_bat=1048576 ' <<<"$OUT" && pass "VHD preallocated for 2 TiB (vhd-util create -S 2097152)" ||
	fail "query: $OUT"
head -c $((6 * MiB)) /dev/urandom >"$T/data"
# Across the segment boundary (8 MiB of LV) and unaligned.
ok vhd-write "$VG" "VHD-$B" 1000 "$T/data" && pass "unaligned write through the extent map"
# Inflate: the LV grows, the footer follows (lvhdutil.inflate).
ok lvresize "$VG" "VHD-$B" $((112 * MiB))
ok vhd-phys "$VG" "VHD-$B" $((112 * MiB)) && pass "vhd_set_phys_size to the new LV end"
t vhd-phys "$VG" "VHD-$B" $((4 * MiB))
grep -q '^FAULT 79 ' <<<"$OUT" && pass "a physical size below the end of data is refused (79)" || fail "deflate too far: $OUT"
ok vhd-check "$VG" "VHD-$B" && pass "vhd_check after inflate"

# Snapshot as LVHD does it: the leaf becomes the hidden read-only base, a new
# leaf with the original uuid points at it by its dm name.
ok lvrename "$VG" "VHD-$B" "VHD-$L"
ok vhd-hide "$VG" "VHD-$L"
ok perm "$VG" "VHD-$L" r
BASE="VHD-$L"; NEWB=$(uuid)
ok lvrename "$VG" "$BASE" "VHD-$NEWB"; BASE="VHD-$NEWB"
ok lvcreate "$VG" "VHD-$B" $((8 * MiB))
ok vhd-snap "$VG" "$BASE" "VHD-$B" && pass "snapshot child with a dm-name locator"
DM="VG_XenStorage--${SR//-/--}-VHD--${NEWB//-/--}"
ok vhd-query "$VG" "VHD-$B"
grep -q " parent_name=$DM parent_locator=./$DM\$" <<<"$OUT" && pass "locator ./$DM" || fail "child: $OUT"
grep -q 'type=4 virtual=104857600 phys=4329472 max_bat=1048576 ' <<<"$OUT" &&
	pass "child preallocated for 2 TiB, 4329472 bytes of metadata (calcOverheadEmpty)" || fail "child: $OUT"
ok vhd-check "$VG" "VHD-$B" && pass "vhd_check of the chain through the locators"
t vhd-read "$VG" "VHD-$B" 1000 $((6 * MiB))
cmp -s "$T/t.out" "$T/data" && pass "the chain reads the base's data" || fail "chain read differs"
head -c 3000 /dev/urandom >"$T/small"
ok vhd-write "$VG" "VHD-$B" $((3 * MiB + 17)) "$T/small"
t vhd-read "$VG" "VHD-$B" $((3 * MiB + 17)) 3000
cmp -s "$T/t.out" "$T/small" && pass "a write into the child reads back" || fail "child read differs"
# The base again, deflated (lvhdutil.deflate: footer down, then lvresize).
ok vhd-query "$VG" "$BASE"
PHYS=$(sed -n 's/.* phys=\([0-9]*\) .*/\1/p' <<<"$OUT")
DEFL=$(( (PHYS + 4 * MiB - 1) / (4 * MiB) * 4 * MiB ))
ok perm "$VG" "$BASE" rw
ok vhd-phys "$VG" "$BASE" "$DEFL" && ok lvresize "$VG" "$BASE" "$DEFL" && ok perm "$VG" "$BASE" r
ok vhd-check "$VG" "VHD-$B" && pass "chain sound after the base was deflated to $DEFL bytes"

# --- cross-checks: lvs --segments, and the bytes off the PV -------------------
t lvs "$VG"
for lv in "$BASE" "VHD-$B"; do
	mine=$(awk -F'|' -v n="$lv" '$1 == n { print $6 }' <<<"$OUT" | tr ',' '\n')
	theirs=$(lvs --config "$(lvm_cfg)" --noheadings --segments --separator '|' -o lv_name,seg_pe_ranges "$VG" 2>/dev/null |
		sed 's/ //g' | awk -F'|' -v n="$lv" '$1 == n { print $2 }' |
		awk -F: '{ split($2, r, "-"); print $1 ":" r[1] ":" r[2] - r[1] + 1 }')
	[ -n "$mine" ] && [ "$mine" = "$theirs" ] && pass "extent map of $lv is lvs --segments'" ||
		fail "segments of $lv: $mine / $theirs"
done
mkdir -p "$T/x"
# extract LV FILE: the LV's bytes from the PV, segment by segment, with dd
# (skip in bytes: pe_start is not a multiple of 4 MiB).
extract() {
	local seg dev first count
	: >"$2"
	for seg in $(awk -F'|' -v n="$1" '$1 == n { print $6 }' <<<"$OUT" | tr ',' ' '); do
		IFS=: read -r dev first count <<<"$seg"
		dd if="$dev" bs=4M skip=$((11534336 + first * 4194304)) count="$count" \
			iflag=skip_bytes 2>/dev/null >>"$2"
	done
}
extract "$BASE" "$T/x/$DM"
extract "VHD-$B" "$T/x/child.vhd"
[ "$(stat -c %s "$T/x/$DM")" = "$DEFL" ] || fail "extracted base is $(stat -c %s "$T/x/$DM") bytes"
"$VHDTOOL" check "$T/x/child.vhd" >"$T/check.out" 2>&1 && pass "vhdtool check of the chain taken off the PV" ||
	fail "vhdtool check: $(cat "$T/check.out")"
python3 "$REPO/tests/tools/vhd_read.py" --raw "$T/x/child.vhd" >"$T/x/raw" 2>"$T/x/py.err" ||
	fail "vhd_read.py: $(cat "$T/x/py.err")"
cmp -s <(dd if="$T/x/raw" bs=1 skip=1000 count=$((3 * MiB + 17 - 1000)) 2>/dev/null) \
	<(head -c $((3 * MiB + 17 - 1000)) "$T/data") &&
	cmp -s <(dd if="$T/x/raw" bs=1 skip=$((3 * MiB + 17)) count=3000 2>/dev/null) "$T/small" &&
	pass "vhd_read.py (independent reader) sees the chain's data" || fail "vhd_read.py data differs"
qemu-img info --output=json "$T/x/$DM" >"$T/qi" 2>&1 || true
grep -q '"format": "vpc"' "$T/qi" && grep -q '"virtual-size": 104857600' "$T/qi" &&
	pass "qemu-img reads the base off the PV as vpc, 100 MiB" || fail "qemu-img info: $(cat "$T/qi")"

# --- VG: grow and extend -----------------------------------------------------
truncate -s 1200M "$T/pv1.img"
losetup -c "$PV1"
ok pvresize "$PV1"
ok vgs "$VG"
read -r VSIZE2 _ <<<"$OUT"
[ "$VSIZE2" -gt "$VSIZE" ] && pass "pvresize: VG grew from $VSIZE to $VSIZE2" || fail "VG size $VSIZE2 after pvresize"
new_loop pv2 256M 4096; PV2=$LOOP   # LVM wants one logical block size per VG
ok vgextend "$VG" "$PV2"
ok vgs "$VG"
[ "$(wc -w <<<"$OUT")" = 5 ] && pass "vgextend: two PVs" || fail "vgs after vgextend: $OUT"

# --- nothing under /etc/lvm ---------------------------------------------------
NEW=$(find /etc/lvm -newer "$MARK" 2>/dev/null | head -5)
[ -z "$NEW" ] && pass "nothing written under /etc/lvm" || fail "written under /etc/lvm: $NEW"

ok vgremove "$VG" && ok pvremove && pass "vgremove, pvremove"
t vgs "$VG"
[ "$OUT" = absent ] || fail "the VG is still there: $OUT"
finish
