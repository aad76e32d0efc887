#!/bin/bash
# EXTSR, the whole lifecycle on a loop device with the guest's device-mapper:
# sr_create (VG XSLocalEXT-<sr>, LV <sr>, ext4), sr_attach (activate, fsck -a,
# mount), VDIs with data written through vhdtool (create, snapshot, clone,
# resize, delete), sr_scan, sr_detach (unmounted, LV inactive), sr_attach
# again (data still there, fsck ran), sr_probe, the refusals (a device with a
# foreign file system, the device of an existing SR), sr_delete (not while
# VDIs remain; then VG and PV gone) and its idempotence.
. "$VMT_REPO/tests/vm/guest/lib.sh"
[ -x "$VMT_BUILD/EXTSR" ] && [ -x "$VMT_BUILD/smcall" ] ||
	vmt_fail "no EXTSR in $VMT_BUILD (make check-vm builds build-test/)"
modprobe dm_mod
SMCALL=$VMT_BUILD/smcall
VHDTOOL=$VMT_BUILD/vhdtool
CONF=$VMT_REPO/examples/dconf/ext.conf
export SM_LOCK_DIR=$VMT_WORK/lock SM_MOUNT_BASE=$VMT_WORK/sr-mount CSM_GC=off CSM_LVM_BACKUP=off
export SR_UUID=6c1f3b2a-8d4e-4f0a-9b7c-2e5d1a3f4b6c
OTHER_UUID=0a9b8c7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d
VG=XSLocalEXT-$SR_UUID
MNT=$SM_MOUNT_BASE/$SR_UUID

DEV=$(vmt_loop 512M ext)
FOREIGN=$(vmt_loop 64M foreign)
export EXT_SR_DEVICE=$DEV
# If the test fails half-way, leave no mount, dm device or VG behind.
vmt_on_exit "umount $MNT 2>/dev/null; vgremove -q -f $VG >/dev/null 2>&1; pvremove -q -ff -y $DEV >/dev/null 2>&1"

ext() { "$SMCALL" "$VMT_BUILD/EXTSR" "$CONF" "$@"; }
# fault CODE CMD...: the call must fail with exactly that code.
fault() {
	local code=$1 out; shift
	out=$(ext "$@" 2>/dev/null) && vmt_fail "$* succeeded, expected fault $code"
	grep -q "^FAULT $code " <<<"$out" || vmt_fail "$*: expected fault $code, got: $out"
	echo "$out"
}
member() { sed -n "s/^$1: //p" "$2"; }
lv_active() { [ "$(lvs --noheadings -o lv_attr "$VG/$SR_UUID" | tr -d ' ' | cut -c5)" = a ]; }
mounted() { grep -q " $MNT ext4 " /proc/mounts; }

# --- create -----------------------------------------------------------------
ext sr_create 0
vgs "$VG"
[ "$(lvs --noheadings -o lv_name "$VG" | tr -d ' ')" = "$SR_UUID" ] || vmt_fail "LV $SR_UUID missing"
[ "$(pvs --noheadings -o vg_name "$DEV" | tr -d ' ')" = "$VG" ] || vmt_fail "$DEV is not a PV of $VG"
lv_active && vmt_fail "the LV is left active after sr_create"
mounted && vmt_fail "sr_create mounted the SR"

# --- attach, VDIs -------------------------------------------------------------
ext sr_attach
mounted || vmt_fail "sr_attach did not mount $MNT"
lv_active || vmt_fail "LV not active after sr_attach"
ext sr_attach   # idempotent
[ "$(grep -c " $MNT " /proc/mounts)" = 1 ] || vmt_fail "second sr_attach mounted again"

ext vdi_create 67108864 disk-one '' '' false 19700101T00:00:00Z '' false | tee v1
V1=$(member uuid v1)
[ -f "$MNT/$V1.vhd" ] || vmt_fail "no $V1.vhd on the mounted file system"
vmt_pattern pattern 4
"$VHDTOOL" write "$MNT/$V1.vhd" 1048576 pattern
ext vdi_snapshot --vdi "$V1" | tee s1
S1=$(member uuid s1)
ext vdi_clone --vdi "$V1" | tee c1
C1=$(member uuid c1)
"$VHDTOOL" read "$MNT/$S1.vhd" 1048576 4194304 | cmp - pattern || vmt_fail "snapshot lost the data"
"$VHDTOOL" read "$MNT/$C1.vhd" 1048576 4194304 | cmp - pattern || vmt_fail "clone lost the data"
ext vdi_resize --vdi "$V1" 134217728
"$VHDTOOL" query "$MNT/$V1.vhd" | grep -qx 'virtual_size=.* (134217728 bytes)' || vmt_fail "resize"
ext vdi_create 8388608 scratch | tee v2
V2=$(member uuid v2)
ext vdi_delete --vdi "$V2"
[ ! -e "$MNT/$V2.vhd" ] || vmt_fail "vdi_delete left $V2.vhd"
ext sr_scan > scan
for u in "$V1" "$S1" "$C1"; do grep -q "<uuid>$u</uuid>" scan || vmt_fail "scan lacks $u"; done
grep -q "<uuid>$V2</uuid>" scan && vmt_fail "scan still lists the deleted $V2"
ext vdi_attach --vdi "$V1" true | grep -q "params: $MNT/$V1.vhd" || vmt_fail "vdi_attach params"
ext vdi_detach --vdi "$V1"

# --- refusals while attached --------------------------------------------------
fault 42 sr_create 0 | grep -q 'mounted'
SR_UUID=$OTHER_UUID fault 16 sr_create 0   # the device is held by the active LV
mkfs.ext4 -q -F "$FOREIGN"
before=$(sha1sum < "$FOREIGN")
EXT_SR_DEVICE=$FOREIGN SR_UUID=$OTHER_UUID fault 56 sr_create 0 | grep -q ext4
[ "$(sha1sum < "$FOREIGN")" = "$before" ] || vmt_fail "the refused device was written"

# --- detach, attach again -----------------------------------------------------
ext sr_detach
mounted && vmt_fail "still mounted after sr_detach"
lv_active && vmt_fail "LV still active after sr_detach"
[ ! -e "/dev/$VG/$SR_UUID" ] || vmt_fail "/dev/$VG/$SR_UUID still there after sr_detach"
ext sr_detach   # idempotent
fault 47 sr_scan
fault 47 vdi_create 8388608
SR_UUID=$OTHER_UUID fault 56 sr_create 0 | grep -q "$VG"   # a PV of this SR's VG
SM_LOG_STDERR=1 ext sr_attach 2> attach.log
grep -q 'exec: fsck -a' attach.log || { cat attach.log; vmt_fail "sr_attach ran no fsck"; }
mounted || vmt_fail "not mounted after the second sr_attach"
"$VHDTOOL" read "$MNT/$S1.vhd" 1048576 4194304 | cmp - pattern || vmt_fail "data lost across detach/attach"
"$VHDTOOL" read "$MNT/$V1.vhd" 1048576 4194304 | cmp - pattern || vmt_fail "leaf data lost across detach/attach"
ext sr_scan | grep -q "<uuid>$C1</uuid>" || vmt_fail "scan after re-attach lacks $C1"

# --- probe --------------------------------------------------------------------
ext sr_probe | tee probe
grep -q "<UUID>$SR_UUID</UUID>" probe && grep -q "<Devlist>$DEV</Devlist>" probe &&
	grep -Eq '<size>[0-9]+</size>' probe || vmt_fail "sr_probe does not list the SR"
EXT_SR_DEVICE=$FOREIGN ext sr_probe | grep -q '<SRlist/>' || vmt_fail "probe of a device with no SR"

# --- delete -------------------------------------------------------------------
fault 39 sr_delete
for u in "$V1" "$S1" "$C1"; do ext vdi_delete --vdi "$u"; done
ext sr_delete
mounted && vmt_fail "still mounted after sr_delete"
vgs "$VG" >/dev/null 2>&1 && vmt_fail "VG $VG left after sr_delete"
pvs "$DEV" >/dev/null 2>&1 && vmt_fail "PV label left on $DEV after sr_delete"
[ -z "$(blkid -p "$DEV" 2>/dev/null)" ] || vmt_fail "signature left on $DEV: $(blkid -p "$DEV")"
ext sr_delete   # idempotent
ext sr_detach
vmt_log "extsr: create, attach, VDIs, detach, re-attach, probe, refusals, delete ok"
