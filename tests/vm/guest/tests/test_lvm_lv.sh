#!/bin/bash
# The LV-level LVM calls with device-mapper (the host's tests/integration/
# test_lvm_lv.sh runs them with activation off): lvcreate with activation on,
# activation and deactivation through lib/lvm.c (the device node appears and
# goes), a VHD written through the extent map and read through the active
# LV's node with O_DIRECT (vhd_io_open_direct), and back, a refresh after
# lvresize, a non-master that may activate but not change metadata.
. "$VMT_REPO/tests/vm/guest/lib.sh"
TOOL=$VMT_BUILD/tests/lvm_lv
[ -x "$TOOL" ] || vmt_fail "no $TOOL (make check-vm builds build-test/)"
modprobe dm_mod
VG=VG_XenStorage-6c1f3b2a-8d4e-4f0a-9b7c-2e5d1a3f4b6c
U=cccccccc-0000-4000-8000-000000000000
DEV=$(vmt_loop 512M lvmlv)
vmt_on_exit "vgremove -q -f $VG >/dev/null 2>&1; pvremove -q -ff -y $DEV >/dev/null 2>&1"
t() { "$TOOL" "$DEV" "$@" 2>"$VMT_WORK/t.err" || vmt_fail "$*: $(cat "$VMT_WORK/t.err")"; }
active() { [ "$(lvs --noheadings -o lv_attr "$VG/$1" | tr -d ' ' | cut -c5)" = a ]; }

t pvcreate >/dev/null
t vgcreate "$VG" >/dev/null
t lvcreate "$VG" "VHD-$U" $((108 * 1048576)) >/dev/null
# lvcreate activates (activation is on): the node is there.
[ -b "/dev/$VG/VHD-$U" ] || vmt_fail "no device node after lvcreate"
[ "$(t activate "$VG" "VHD-$U" off)" = done ] || vmt_fail "deactivate was not run"
[ ! -e "/dev/$VG/VHD-$U" ] || vmt_fail "node still there after deactivate"
active "VHD-$U" && vmt_fail "LV still active"

# Written through the extent map while inactive...
t vhd-create "$VG" "VHD-$U" $((100 * 1048576)) >/dev/null
vmt_pattern data 3
t vhd-write "$VG" "VHD-$U" 1000 data >/dev/null
# ...read through the active LV's node with O_DIRECT.
[ "$(t activate "$VG" "VHD-$U" on)" = done ] || vmt_fail "activate was not run"
[ -b "/dev/$VG/VHD-$U" ] || vmt_fail "no device node after activate"
active "VHD-$U" || vmt_fail "LV not active"
t lvs "$VG" | grep -q "^VHD-$U|[0-9]*|-wi-a" || vmt_fail "the parsed lvs does not say active"
t dev-query "/dev/$VG/VHD-$U" | grep -q 'type=3 virtual=104857600 .* max_bat=1048576 ' ||
	vmt_fail "dev-query: $(t dev-query "/dev/$VG/VHD-$U")"
t dev-read "/dev/$VG/VHD-$U" 1000 $((3 * 1048576)) | cmp - data || vmt_fail "node read differs"
# Written through the node, read through the map (both O_DIRECT: no stale cache).
head -c 5000 /dev/urandom >small
t dev-write "/dev/$VG/VHD-$U" $((2 * 1048576 + 3)) small
t vhd-read "$VG" "VHD-$U" $((2 * 1048576 + 3)) 5000 | cmp - small || vmt_fail "map read differs"
t vhd-check "$VG" "VHD-$U" >/dev/null

# Inflate an active LV: lvresize, refresh, the footer at the new end.
t lvresize "$VG" "VHD-$U" $((112 * 1048576)) >/dev/null
[ "$(t activate "$VG" "VHD-$U" refresh)" = done ] || vmt_fail "refresh was not run"
[ "$(blockdev --getsize64 "/dev/$VG/VHD-$U")" = $((112 * 1048576)) ] || vmt_fail "node size after refresh"
t vhd-phys "$VG" "VHD-$U" $((112 * 1048576)) >/dev/null
t dev-query "/dev/$VG/VHD-$U" >/dev/null

# A non-master activates and deactivates, and changes no metadata.
out=$("$TOOL" --slave "$DEV" activate "$VG" "VHD-$U" off 2>/dev/null) || vmt_fail "slave deactivate"
[ "$out" = done ] && ! active "VHD-$U" || vmt_fail "slave deactivate: $out"
out=$("$TOOL" --slave "$DEV" addtag "$VG" "VHD-$U" hidden 2>/dev/null) && vmt_fail "slave addtag succeeded"
grep -q '^FAULT 58 ' <<<"$out" || vmt_fail "slave addtag: $out"
t vgremove "$VG" >/dev/null
t pvremove >/dev/null
vmt_log "lvm_lv: activation, device node and extent map agree"
