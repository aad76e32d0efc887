#!/usr/bin/env bash
# A FileSR on a small ext4 (1 KiB blocks, on a loop device) that is full,
# or all but a few KiB: every operation that needs space answers SRNoSpace
# (44), whichever of its steps met ENOSPC (journal record, image header or
# footer, second child, metadata record, undo record, moved data block,
# lock file), and leaves the SR exactly as it was; with more room it
# succeeds.  sr_scan still works on a full SR.
# A raw VDI larger than this file system's largest file (4 TiB with 1 KiB
# blocks) is VDISize (79).
source "$(dirname "$0")/lib.sh"
need_root "loop device, mount"
need losetup=mount truncate=coreutils mkfs.ext4=e2fsprogs mount=mount umount=mount \
	fallocate=util-linux dd=coreutils sync=coreutils
D="$BUILD/FileSR"
C="$REPO/examples/dconf/file.conf"

FS=$T/fs
LOOP=
nospace_cleanup() {
	umount "$FS" 2>/dev/null || true
	[ -z "$LOOP" ] || losetup -d "$LOOP" 2>/dev/null || true
	cleanup
}
trap nospace_cleanup EXIT
truncate -s 24M "$T/fs.img"
mkfs.ext4 -q -F -b 1024 -m 0 "$T/fs.img" >/dev/null
# The loop device is this test's storage: none is a failure, not a skip.
LOOP=$(losetup -f --show "$T/fs.img" 2>"$T/losetup.err") || {
	fail "no loop device: $(cat "$T/losetup.err")"
	finish
}
mkdir -p "$FS"
mount -t ext4 "$LOOP" "$FS" 2>"$T/mount.err" || { fail "mount: $(cat "$T/mount.err")"; finish; }
export FILE_SR_DIR=$FS/sr

# fill KIB: the file system full but KIB KiB.  A spacer of that size is
# written first and removed last, so exactly its blocks come free.
fill() {
	local free
	rm -f "$FS"/filler*
	[ "$1" -eq 0 ] || dd if=/dev/zero of="$FS/filler.spacer" bs=1k count="$1" status=none
	free=$(stat -f -c '%a * %S' "$FS")
	[ $((free)) -le 262144 ] || fallocate -l $((free - 262144)) "$FS/filler.bulk"
	dd if=/dev/zero of="$FS/filler.top" bs=1k status=none 2>/dev/null || true
	rm -f "$FS/filler.spacer"
	sync -f "$FS"
}
# What is in the SR: every name with its size (and every file's bytes).
sr_names() { (cd "$FILE_SR_DIR" && find . -printf '%p %s\n' | sort); }
sr_state() { sr_names && tree_sum "$FILE_SR_DIR"; }
# The VDIs a scan lists, with their sizes and parents.
scan_state() {
	call string "$D" "$C" sr_scan || return 0
	string_result | tr -d '\n\t' | sed 's/<vdi>/\n/g' |
		sed -n 's/.*<uuid>\([^<]*\)<\/uuid>.*<size>\([^<]*\)<\/size>.*<parent>\([^<]*\)<\/parent>.*/\1 \2 \3/p' |
		sort
}

# --- the SR every case starts from: a VDI V with data written since its
# snapshot S (S: an empty child of their base copy), a raw VDI R ---
call unit "$D" "$C" sr_create 0 && call unit "$D" "$C" sr_attach || finish
call vdi_info "$D" "$C" vdi_create 10M && V=$(member uuid)
head -c 1048576 /dev/urandom >"$T/pattern1"
head -c 1048576 /dev/urandom >"$T/pattern2"
"$VHDTOOL" write "$FILE_SR_DIR/$V.vhd" 0 "$T/pattern1"
call vdi_info "$D" "$C" vdi_snapshot --vdi "$V" && S=$(member uuid)
"$VHDTOOL" write "$FILE_SR_DIR/$V.vhd" 0 "$T/pattern2"
call vdi_info "$D" "$C" vdi_create --sm-config type=raw 4M && R=$(member uuid)
data_intact() {
	"$VHDTOOL" read "$FILE_SR_DIR/$V.vhd" 0 1048576 | cmp -s - "$T/pattern2" &&
		"$VHDTOOL" read "$FILE_SR_DIR/$S.vhd" 0 1048576 | cmp -s - "$T/pattern1"
}
rm -rf "$T/golden"; cp -a "$FILE_SR_DIR" "$T/golden"
GOLDEN_SCAN=$(scan_state)
[ -n "$GOLDEN_SCAN" ] || fail "no scan of the starting SR"
restore() { rm -rf "$FILE_SR_DIR" "$FS"/filler*; cp -a "$T/golden" "$FILE_SR_DIR"; }

# sweep <name> <setup function or -> <bytes|files> <smcall args...>: at each
# level of free space, from none up to the first success, the call is 44
# and leaves the SR as it was: the same files of the same sizes (and bytes,
# "bytes"), the same scan, the data of V and S intact.  It must be 44 when
# nothing is free and succeed once there is room enough.  KiB by KiB at
# first, so each step of an operation that writes a few KiB (journal,
# header, footer, second child, metadata) is the one that meets the full
# file system at some level.
LEVELS="0 1 2 3 4 5 6 7 8 9 10 11 12 14 16 20 24 32 48 64 96 128 160 192 224 256 320 384 512
	1024 2048 2560 3072 3584 4096 5120 6144 8192"
sweep() {
	local name=$1 setup=$2 same=$3 k nospace=0 ok=0 before scan req; shift 3
	for k in $LEVELS; do
		restore
		[ "$setup" = - ] || $setup
		if [ "$same" = bytes ]; then before=$(sr_state); else before=$(sr_names); fi
		scan=$(scan_state)
		fill "$k"
		req=$("$SMCALL" --print-request "$D" "$C" "$@")
		run_raw "$D" "$req"
		if printf '%s' "$OUT" | "$XAPI_CHECK" fault 44 2>/dev/null; then
			nospace=$((nospace + 1))
			if [ "$same" = bytes ]; then after=$(sr_state); else after=$(sr_names); fi
			[ "$after" = "$before" ] ||
				fail "$name with $k KiB free: 44 but the SR changed:"$'\n'"$(diff <(echo "$before") <(echo "$after"))"
			[ "$(scan_state)" = "$scan" ] || fail "$name with $k KiB free: 44 but the scan changed"
			data_intact || fail "$name with $k KiB free: 44 but the data changed"
		elif printf '%s' "$OUT" | grep -q '<fault>'; then
			fail "$name with $k KiB free: not 44: $(printf '%s' "$OUT" | tr -d '\n' | sed 's/.*faultCode<\/name><value><int>\([0-9]*\).*<string>\(.*\)<\/string>.*/\1 \2/')"
		else
			ok=1
			break
		fi
		[ "$k" -ne 0 ] || [ "$nospace" -eq 1 ] || fail "$name on a full file system is not 44"
	done
	if [ "$ok" -eq 0 ]; then
		fail "$name never succeeded, even with $k KiB free"
	elif [ "$nospace" -gt 0 ]; then
		pass "$name: 44 with the SR unchanged below $k KiB free, success from there"
	fi
}

no_meta() { rm -f "$FILE_SR_DIR/$V.meta"; }
sweep "vdi_create (vhd)" - bytes vdi_create 10M
sweep "vdi_create (raw)" - bytes vdi_create --sm-config type=raw 10M
sweep "vdi_snapshot" - bytes vdi_snapshot --vdi "$V"
sweep "vdi_snapshot type=single" - bytes vdi_snapshot --vdi "$V" --driver-param type=single
sweep "vdi_clone" - bytes vdi_clone --vdi "$V"
# S has nothing written since its snapshot: the new leaves hang off its
# parent and S is rebuilt as an empty child of it; a failure leaves S an
# empty child of the same parent, though not the same bytes (a new VHD uuid).
sweep "vdi_snapshot of a VDI with nothing written since its last" - files vdi_snapshot --vdi "$S"
sweep "vdi_clone of a VDI with nothing written since its last" - files vdi_clone --vdi "$S"
# Beyond its BAT: the metadata grows, V's data block moves and is saved first.
sweep "vdi_resize (BAT relocated)" - bytes vdi_resize --vdi "$V" 100G
sweep "vdi_update (restores the metadata record)" no_meta bytes vdi_update --vdi "$V"
sweep "vdi_lock" - bytes vdi_lock --vdi "$V" false someone
sweep "vdi_introduce (writes the metadata record)" no_meta bytes vdi_introduce --new-uuid "$V" --location "$V"

# sr_create of a new directory, and adopting an empty one, on the full file system.
restore; fill 0
SR_UUID2=0d5d8e3c-7a39-4c61-b0a4-6f4a3b1e2c77
SR_UUID=$SR_UUID2 FILE_SR_DIR=$FS/sr2 fault 44 "$D" "$C" sr_create 0 &&
	{ [ ! -e "$FS/sr2" ] && pass "sr_create on a full file system is 44, no directory left" ||
		fail "sr_create left $FS/sr2"; }
rm -f "$FS/filler.top"; mkdir "$FS/sr3"; fill 0
SR_UUID=$SR_UUID2 FILE_SR_DIR=$FS/sr3 fault 44 "$D" "$C" sr_create 0 &&
	{ [ -d "$FS/sr3" ] && [ -z "$(ls -A "$FS/sr3")" ] &&
		pass "sr_create adopting an empty directory on a full file system is 44, the directory as it was" ||
		fail "sr_create left in $FS/sr3: $(ls -A "$FS/sr3")"; }
rmdir "$FS/sr3"

# A full SR still scans, to the same VDIs; raw resize needs no space (sparse).
restore; fill 0
[ "$(scan_state)" = "$GOLDEN_SCAN" ] && pass "sr_scan of a full SR lists the same VDIs" ||
	fail "sr_scan of a full SR: $(scan_state)"
call vdi_info "$D" "$C" vdi_resize --vdi "$R" 8M && pass "raw vdi_resize on a full SR (sparse)"
data_intact && pass "the data is intact after all that" || fail "the VDIs' data changed"

# A raw VDI larger than this file system's largest file (4 TiB - 1 KiB).
restore
BEFORE=$(sr_state)
fault 79 "$D" "$C" vdi_create --sm-config type=raw 5T &&
	{ [ "$(sr_state)" = "$BEFORE" ] && pass "raw vdi_create beyond the file system's largest file is 79, nothing left" ||
		fail "raw vdi_create of 5T left: $(diff <(echo "$BEFORE") <(sr_state))"; }
fault 79 "$D" "$C" vdi_resize --vdi "$R" 5T && pass "raw vdi_resize beyond it is 79"
[ "$(stat -c %s "$FILE_SR_DIR/$R.raw")" = 4194304 ] || fail "the refused raw resize changed the size"
finish
