#!/usr/bin/env bash
# EXTSR in xapi mode (issue 11) against the XenAPI test server: the VHD
# lifecycle of tests/xapi/check.sh on an ext4 SR (VG XSLocalEXT-<sr> on a
# loop device, its LV mounted), the database equal to the SR's files after
# every call; VHDs made with vhdtool and removed behind the driver's back;
# API mode making no XenAPI call; a dead, silent or slow endpoint 154 in
# bounded time with the files untouched.  Then the plain lifecycle in API
# mode (the VM's test_extsr.sh here too): attach with fsck, VDIs with their
# data, detach/attach, probe, delete refused with VDIs left, delete.
#
# This host has no device-mapper, so LVM cannot activate the SR's LV.  Test
# builds read CSM_EXT_DEVICE_MAP="<vg>/<lv>=<dev>" (drivers/ext.c) and use
# <dev> as the LV: a second loop device over the same image file, starting
# at the PV's first extent and as long as the LV.  sr_create's lvcreate
# takes all of a fresh single-PV VG, so both are known before the LV
# exists (pvcreate --metadatasize 10M puts the first extent at 11 MiB; the
# extents are LVM's default 4 MiB); they are checked
# against pvs/lvs after sr_create.  Everything above the block device (mkfs,
# fsck, mount, the VHDs) is the real thing.
source "$(dirname "$0")/lib.sh"
source "$REPO/tests/xapi/check.sh"
set +e
D="$BUILD/EXTSR"
C="$REPO/examples/dconf/ext.conf"
export CSM_LVM_BACKUP=off CSM_LVM_ACTIVATION=off
need_root "loop devices, mount, LVM"
need losetup=mount truncate=coreutils mkfs.ext4=e2fsprogs python3=python3 pvs=lvm2 lvs=lvm2
PV=""
LVDEV=""
MNT="$SM_MOUNT_BASE/$SR_UUID"
VG="XSLocalEXT-$SR_UUID"
IMG_MB=512
PE_START=$((11 * 1024 * 1024))
LV_BYTES=$(( (IMG_MB * 1024 * 1024 - PE_START) / (4 * 1024 * 1024) * 4 * 1024 * 1024 ))
lvm_cfg() {
	echo "devices{filter=[\"a|^$PV\$|\",\"r|.*|\"] global_filter=[\"a|^$PV\$|\",\"r|.*|\"] use_devicesfile=0} global{activation=0} backup{backup=0 archive=0}"
}
cleanup_all() {
	xapi_stop_all
	umount "$MNT" 2>/dev/null
	[ -z "$PV" ] || vgremove -q -f --config "$(lvm_cfg)" "$VG" >/dev/null 2>&1
	[ -z "$PV" ] || pvremove -q -ff -y --config "$(lvm_cfg)" "$PV" >/dev/null 2>&1
	[ -z "$LVDEV" ] || losetup -d "$LVDEV"
	[ -z "$PV" ] || losetup -d "$PV"
	rm -rf "$T"
}
trap cleanup_all EXIT
truncate -s ${IMG_MB}M "$T/ext.img"
PV=$(losetup -f --show "$T/ext.img" 2>"$T/losetup.err") || { fail "no loop device: $(cat "$T/losetup.err")"; finish; }
LVDEV=$(losetup -f --show -o $PE_START --sizelimit $LV_BYTES "$T/ext.img" 2>"$T/losetup.err") ||
	{ fail "no loop device for the LV: $(cat "$T/losetup.err")"; finish; }
export EXT_SR_DEVICE=$PV
# Without the map (as in production here) create fails at lvcreate, rolled back.
fault 50 "$D" "$C" sr_create 0 && grep -q device-mapper <<<"$OUT" && [ -z "$(blkid -p "$PV")" ] &&
	pass "no device-mapper and no map: sr_create is 50 saying why, the device blank again"
export CSM_EXT_DEVICE_MAP="$VG/$SR_UUID=$LVDEV"
storage_uuids() { (cd "$MNT" && ls -- *.vhd *.raw 2>/dev/null | sed 's/\.[a-z]*$//' | sort); }
storage_sum() { tree_sum "$MNT" | sha1sum; }
behind_add() { "$VHDTOOL" create "$MNT/$1.vhd" 4M || fail "vhdtool create $1"; }
behind_rm() { rm -f "$MNT/$1.vhd" "$MNT/$1.meta"; }

xapi_start ext
XF_TYPE=ext
export CSM_XAPI=on
xcall unit "$D" "$C" sr_create 0 && pass "xapi mode: sr_create"
pe=$(pvs --noheadings --units b --nosuffix -o pe_start --config "$(lvm_cfg)" "$PV" 2>/dev/null | tr -d ' ')
lvsz=$(lvs --noheadings --units b --nosuffix -o lv_size --config "$(lvm_cfg)" "$VG/$SR_UUID" 2>/dev/null | tr -d ' ')
[ "$pe" = $PE_START ] && [ "$lvsz" = "$LV_BYTES" ] &&
	pass "the LV is where the map's loop device shows it ($pe + $lvsz)" ||
	{ fail "the LV is at '$pe' size '$lvsz', the map's device at $PE_START size $LV_BYTES"; finish; }
[ "$(blkid -p -o value -s TYPE "$LVDEV")" = ext4 ] && pass "sr_create made ext4 on the LV" ||
	fail "no ext4 on the LV"
xcall unit "$D" "$C" sr_attach && pass "xapi mode: sr_attach"
findmnt -n -o SOURCE "$MNT" | grep -qx "$LVDEV" && pass "the LV is mounted at $MNT" ||
	fail "not mounted: $(findmnt -n "$MNT")"
xapi_vhd_lifecycle "$D" "$C"
unset CSM_XAPI
xapi_api_mode "$D" "$C"
xapi_faults 8000 "$D" "$C"
xcall unit "$D" "$C" sr_detach && ! findmnt -n "$MNT" >/dev/null && pass "xapi mode: sr_detach unmounts"

# ---- the plain lifecycle in API mode (as the VM's test_extsr.sh) --------------
export CSM_XAPI=off
fault 47 "$D" "$C" sr_scan && pass "API mode: sr_scan of the detached SR is 47"
SM_LOG_STDERR=1 call unit "$D" "$C" sr_attach && grep -q 'exec: fsck -a' <<<"$ERR" &&
	findmnt -n "$MNT" >/dev/null && pass "API mode: sr_attach checks (fsck -a) and mounts" ||
	fail "API mode: sr_attach: $(grep -i fsck <<<"$ERR")"
call unit "$D" "$C" sr_attach && [ "$(grep -c " $MNT " /proc/mounts)" = 1 ] &&
	pass "API mode: sr_attach again mounts nothing more"
head -c $((4 * 1048576)) /dev/urandom >"$T/pattern"
call vdi_info "$D" "$C" vdi_create 64M disk-one && P1=$(member uuid)
"$VHDTOOL" write "$MNT/${P1:-x}.vhd" 1048576 "$T/pattern" || fail "vhdtool write"
call vdi_info "$D" "$C" vdi_snapshot --vdi "${P1:-x}" && PS=$(member uuid)
call vdi_info "$D" "$C" vdi_clone --vdi "${P1:-x}" && PC=$(member uuid)
for u in "${PS:-x}" "${PC:-x}"; do
	"$VHDTOOL" read "$MNT/$u.vhd" 1048576 4194304 | cmp -s - "$T/pattern" || fail "API mode: $u lost the data"
done
call vdi_info "$D" "$C" vdi_resize --vdi "${P1:-x}" 128M &&
	"$VHDTOOL" query "$MNT/${P1:-x}.vhd" | grep -qx 'virtual_size=134217728' &&
	pass "API mode: create, snapshot, clone (data kept), resize"
call attach "$D" "$C" vdi_attach --vdi "${P1:-x}" true && grep -q "$MNT/${P1:-x}.vhd" <<<"$OUT" &&
	call unit "$D" "$C" vdi_detach --vdi "${P1:-x}" && pass "API mode: vdi_attach (params the VHD on the mount), vdi_detach"
call unit "$D" "$C" sr_detach && ! findmnt -n "$MNT" >/dev/null && call unit "$D" "$C" sr_attach &&
	"$VHDTOOL" read "$MNT/${P1:-x}.vhd" 1048576 4194304 | cmp -s - "$T/pattern" &&
	pass "API mode: sr_detach, sr_attach: the data is still there"
call string "$D" "$C" sr_probe && grep -q "&lt;UUID&gt;$SR_UUID&lt;/UUID&gt;" <<<"$OUT" &&
	pass "API mode: sr_probe lists the SR"
fault 39 "$D" "$C" sr_delete && pass "API mode: sr_delete with VDIs left is 39"
call string "$D" "$C" sr_scan
# Every VDI the scan lists; a base copy refuses (it goes with its children).
for u in $(string_result | sed -n 's/.*<uuid>\(.*\)<\/uuid>.*/\1/p'); do
	run_raw "$D" "$("$SMCALL" --print-request "$D" "$C" vdi_delete --vdi "$u")"
done
call unit "$D" "$C" sr_delete && ! findmnt -n "$MNT" >/dev/null &&
	! vgs --config "$(lvm_cfg)" "$VG" >/dev/null 2>&1 && [ -z "$(blkid -p "$PV" 2>/dev/null)" ] &&
	pass "API mode: sr_delete removes the VG and leaves the device blank" ||
	fail "sr_delete left: $(vgs --config "$(lvm_cfg)" "$VG" 2>&1 | tail -1) $(blkid -p "$PV")"
call unit "$D" "$C" sr_delete && pass "API mode: sr_delete again is a no-op"
finish
