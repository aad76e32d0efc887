#!/usr/bin/env bash
# The LVM2 label and metadata reader (lib/lvm_label.c, LVMoISCSISR's probe
# stage 3) against what LVM itself wrote and reports, on loop devices with a
# private LVM configuration (nothing under /etc/lvm is read or written):
#
#   - a device that is no PV: NO_LABEL;
#   - a PV in no VG: its uuid, size and pe_start, no VG;
#   - a VG with the Python SM's parameters (--metadatasize 10M, 4 MiB
#     extents) over two PVs: every field against pvs/vgs, the VG size the
#     sum over both PVs, each PV its own extent count;
#   - the circular metadata buffer: a PV with a 60 KiB metadata area and
#     metadata updates until the text wraps past the end of the area, read
#     back right (seqno and tags as vgs reports them) after the wrap;
#   - damage: a flipped byte in the label, the area header, the text, each
#     a 117 fault naming what is wrong, never a crash or a wrong answer.
source "$(dirname "$0")/lib.sh"
TOOL="$BUILD/tests/lvm_label_t"
need_root "loop devices, LVM"
need losetup=mount truncate=coreutils dd=coreutils pvcreate=lvm2 vgcreate=lvm2 pvs=lvm2 \
	vgs=lvm2 vgchange=lvm2 vgremove=lvm2 pvremove=lvm2
[ -x "$TOOL" ] || skip "$TOOL not built (make BUILD=... TEST_BUILD=1 all-tests)"

export LVM_SYSTEM_DIR="$T/lvm"
mkdir -p "$LVM_SYSTEM_DIR"
printf 'global {\n\tactivation = 0\n}\nbackup {\n\tbackup = 0\n\tarchive = 0\n}\n' >"$LVM_SYSTEM_DIR/lvm.conf"

LOOPS=()
VGS=()
lvm_cfg() {
	local f="" d
	for d in "${LOOPS[@]}"; do f="$f\"a|^$d\$|\","; done
	echo "devices{filter=[$f\"r|.*|\"] global_filter=[$f\"r|.*|\"] use_devicesfile=0} global{activation=0} backup{backup=0 archive=0}"
}
# lvm CMD ARGS...: an LVM command on our loop devices only, quiet unless it fails.
lvm() {
	local cmd=$1
	shift
	"$cmd" --config "$(lvm_cfg)" "$@" >"$T/lvm.out" 2>&1 || {
		fail "$cmd $*: $(grep -v 'leaked on\|WARNING' "$T/lvm.out")"
		return 1
	}
}
label_cleanup() {
	local v l
	for v in "${VGS[@]}"; do vgremove --config "$(lvm_cfg)" -f "$v" >/dev/null 2>&1 || true; done
	for l in "${LOOPS[@]}"; do
		pvremove --config "$(lvm_cfg)" -ff -y "$l" >/dev/null 2>&1 || true
		losetup -d "$l" 2>/dev/null || true
	done
	cleanup
}
trap label_cleanup EXIT
# new_loop NAME SIZE: a sparse file in $T on a loop device; sets LOOP.
new_loop() {
	truncate -s "$2" "$T/$1.img"
	LOOP=$(losetup -f --show "$T/$1.img" 2>"$T/losetup.err") || {
		fail "no loop device for $1: $(cat "$T/losetup.err")"
		finish
	}
	LOOPS+=("$LOOP")
}
# rd DEV: the reader's output in OUT, exit status in RC; field KEY: one of its values.
rd() { set +e; OUT=$("$TOOL" "$1" 2>&1); RC=$?; set -e; }
field() { sed -n "s/^$1=//p" <<<"$OUT"; }
# pv_report DEV FIELDS: pvs' values, blank-separated.
pv_report() {
	pvs --config "$(lvm_cfg)" --noheadings --units b --nosuffix -o "$2" "$1" 2>/dev/null | xargs
}
# expect WHAT GOT WANT
expect() { [ "$2" = "$3" ] || { fail "$1: read '$2', LVM says '$3'"; return 1; }; }

MiB=1048576

# --- no PV, a PV in no VG ----------------------------------------------------
new_loop blank 32M; BLANK=$LOOP
rd "$BLANK"
[ "$RC" -eq 0 ] && [ "$OUT" = NO_LABEL ] && pass "a device that is no PV: no label" || fail "blank: $RC $OUT"

new_loop pv1 96M; PV1=$LOOP
new_loop pv2 48M; PV2=$LOOP
lvm pvcreate -ff -y --metadatasize 10M "$PV1"
rd "$PV1"
ok=1
expect "orphan pv_uuid" "$(field pv_uuid)" "$(pv_report "$PV1" pv_uuid)" || ok=0
expect "orphan device_size" "$(field device_size)" "$(pv_report "$PV1" dev_size)" || ok=0
expect "orphan pe_start" "$(field pe_start)" "$(pv_report "$PV1" pe_start)" || ok=0
expect "orphan vg_name" "$(field vg_name)" "" || ok=0
[ "$RC" -eq 0 ] && [ $ok = 1 ] && pass "a PV in no VG: uuid, size, pe_start, no VG" || fail "orphan PV: $OUT"

# --- a VG as the Python SM makes it, over two PVs --------------------------------
VG=VG_XenStorage-$SR_UUID
lvm pvcreate -ff -y --metadatasize 10M "$PV2"
lvm vgcreate --metadatasize 10M -s 4M "$VG" "$PV1" "$PV2"
VGS+=("$VG")
for dev in "$PV1" "$PV2"; do
	rd "$dev"
	[ "$RC" -eq 0 ] || { fail "read $dev: $OUT"; continue; }
	read -r uuid dsize pestart vgname vguuid ext pecount vsize seq pvcount <<<"$(pv_report "$dev" \
		pv_uuid,dev_size,pe_start,vg_name,vg_uuid,vg_extent_size,pv_pe_count,vg_size,vg_seqno,pv_count)"
	ok=1
	expect "$dev pv_uuid" "$(field pv_uuid)" "$uuid" || ok=0
	expect "$dev device_size" "$(field device_size)" "$dsize" || ok=0
	expect "$dev pe_start" "$(field pe_start)" "$pestart" || ok=0
	expect "$dev vg_name" "$(field vg_name)" "$vgname" || ok=0
	expect "$dev vg_uuid" "$(field vg_uuid)" "$vguuid" || ok=0
	expect "$dev extent_size" "$(field extent_size)" "$ext" || ok=0
	expect "$dev pe_count" "$(field pe_count)" "$pecount" || ok=0
	expect "$dev vg_size" "$(field vg_size)" "$vsize" || ok=0
	expect "$dev seqno" "$(field seqno)" "$seq" || ok=0
	expect "$dev pv_count" "$(field pv_count)" "$pvcount" || ok=0
	[ $ok = 1 ] && pass "$dev: every field as pvs reports it (VG $vsize bytes, $pecount extents here)"
done
[ "$(field vg_pe_count)" -gt "$(field pe_count)" ] && pass "the VG's extents are summed over both PVs" ||
	fail "vg_pe_count $(field vg_pe_count), pe_count $(field pe_count)"
[ "$(field extent_size)" = $((4 * MiB)) ] || fail "extent size $(field extent_size)"

# --- the circular buffer ----------------------------------------------------------
new_loop small 32M; SMALL=$LOOP
lvm pvcreate -ff -y --metadatasize 8k --dataalignment 64k "$SMALL"
lvm vgcreate -s 1M VG_label_wrap "$SMALL"
VGS+=(VG_label_wrap)
wrapped=0
for i in $(seq 1 120); do
	lvm vgchange --addtag "tag_number_$i" VG_label_wrap || break
	rd "$SMALL"
	[ "$RC" -eq 0 ] || { fail "after update $i: $OUT"; wrapped=-1; break; }
	if [ $(($(field text_offset) + $(field text_size))) -gt "$(field mda_size)" ]; then
		wrapped=$i
		break
	fi
done
if [ "$wrapped" -gt 0 ]; then
	expect "seqno after the wrap" "$(field seqno)" "$(pv_report "$SMALL" vg_seqno)" &&
		expect "vg after the wrap" "$(field vg_name)" VG_label_wrap &&
		pass "metadata text wrapped round the $(field mda_size)-byte area (update $wrapped, offset $(field text_offset), $(field text_size) bytes) and reads back"
	# One more update after the wrap: the text is back in one piece.
	lvm vgchange --addtag tag_after_wrap VG_label_wrap
	rd "$SMALL"
	expect "seqno after the wrap and one more update" "$(field seqno)" "$(pv_report "$SMALL" vg_seqno)" &&
		pass "the update after the wrap reads back too"
elif [ "$wrapped" -eq 0 ]; then
	fail "120 metadata updates never wrapped the 60 KiB area"
fi

# --- damage -----------------------------------------------------------------------
# flip DEV OFFSET: invert one byte.
flip() {
	local b
	b=$(dd if="$1" bs=1 skip="$2" count=1 status=none | od -An -tu1 | tr -d ' ')
	printf "\\$(printf '%03o' $((255 - b)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
# damaged NAME OFFSET WHAT: the byte at OFFSET of PV1 flipped is a 117 naming WHAT; then restored.
damaged() {
	flip "$PV1" "$2"
	rd "$PV1"
	[ "$RC" -eq 1 ] && grep -q "^FAULT 117 LVM label: .*$3" <<<"$OUT" && pass "$1: $OUT" ||
		fail "$1: $RC $OUT"
	flip "$PV1" "$2"
}
damaged "a flipped byte in the label's uuid" $((512 + 40)) "label checksum mismatch"
damaged "a flipped byte in the metadata area header" $((4096 + 45)) "metadata area header checksum"
rd "$PV1"
text_at=$((4096 + $(field text_offset) + 20))
damaged "a flipped byte in the metadata text" "$text_at" "metadata text checksum mismatch"
rd "$PV1"
[ "$RC" -eq 0 ] && [ "$(field vg_name)" = "$VG" ] && pass "restored, the PV reads again" || fail "restore: $OUT"

finish
