#!/bin/bash
# The LV-level LVM calls with device-mapper (the host's tests/integration/
# test_lvm_lv.sh runs them with activation off): lvcreate with activation on,
# activation and deactivation through lib/lvm.c (the device node appears and
# goes), a VHD written through the extent map and read through the active
# LV's node with O_DIRECT (vhd_io_open_direct), and back, a refresh after
# lvresize, a non-master that may activate but not change metadata; and a
# dead path for real: the PV on a suspended device-mapper device, where LVM's
# I/O sleeps in D state and SIGKILL cannot end it, answered within the
# deadline with the child left behind, and that child gone once I/O resumes.
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

# --- a dead path ----------------------------------------------------------------
# The PV is a linear device over a "path" device; suspending the path makes
# I/O to the PV queue as on a dead path with queue_if_no_path (LVM skips a PV
# that is itself suspended, not one whose path is).
DEAD=$(vmt_loop 64M dead)
SECTORS=$(blockdev --getsz "$DEAD")
dmsetup create csm_path --table "0 $SECTORS linear $DEAD 0"
vmt_on_exit "dmsetup resume csm_path 2>/dev/null; dmsetup remove csm_path"
PMIN=$(dmsetup info -c --noheadings -o minor csm_path | tr -d ' ')
dmsetup create csm_dead --table "0 $SECTORS linear /dev/dm-$PMIN 0"
vmt_on_exit "vgremove -q -f vg_dead >/dev/null 2>&1; dmsetup remove csm_dead"
# No udev here, so no /dev/mapper/csm_dead: devtmpfs gives /dev/dm-N.
MIN=$(dmsetup info -c --noheadings -o minor csm_dead | tr -d ' ')
DD=/dev/dm-$MIN
[ -b "$DD" ] || vmt_fail "no $DD"
"$TOOL" "$DD" pvcreate 2>/dev/null || vmt_fail "pvcreate on $DD"
"$TOOL" "$DD" vgcreate vg_dead 2>/dev/null || vmt_fail "vgcreate on $DD"
dmsetup suspend csm_path
start=$(date +%s%N)
out=$("$TOOL" --timeout 2000 "$DD" lvs vg_dead 2>"$VMT_WORK/dead.err") &&
	vmt_fail "lvs on a suspended PV succeeded: $out"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
grep -q '^FAULT 202 lvs did not finish in 2000 ms' <<<"$out" || vmt_fail "dead path: $out"
[ "$ms" -lt 4000 ] || vmt_fail "the dead path took $ms ms to answer"
# The child sleeps in the kernel: killed, not dead, left behind.
grep -q "left behind" <<<"$out" && grep -q "^children: 1 abandoned: 1$" "$VMT_WORK/dead.err" || vmt_fail "dead path: $(cat "$VMT_WORK/dead.err")"
pgrep -x lvm_lv >/dev/null || vmt_fail "the stuck LVM child is not there"
dmsetup resume csm_path
vmt_wait 20 bash -c '! pgrep -x lvm_lv' || vmt_fail "the LVM child did not die when its I/O came back"
"$TOOL" "$DD" lvs vg_dead >/dev/null 2>&1 || vmt_fail "lvs after resume"
vmt_log "lvm_lv: a dead path answered in $ms ms; the stuck child died when I/O resumed"
