#!/bin/bash
# The guest runs the project's own build ($VMT_BUILD, build-test/ by default):
# FileSR, driven by smcall, creates an SR and a VDI on an ext4 LV. Driver tests
# that need the guest's kernel (LVM, NFS, iSCSI SRs) follow this pattern.
. "$VMT_REPO/tests/vm/guest/lib.sh"
[ -x "$VMT_BUILD/FileSR" ] && [ -x "$VMT_BUILD/smcall" ] ||
	vmt_fail "no built drivers in $VMT_BUILD (make check-vm builds build-test/)"
SMCALL=$VMT_BUILD/smcall
$SMCALL "$VMT_BUILD/FileSR" none sr_get_driver_info | grep -q 'VDI_CREATE'

VG=vmt_build
vmt_vg $VG 256M
lvcreate -q -y -L 64M -n sr $VG
mkfs.ext4 -q -F /dev/$VG/sr
mkdir -p mnt
mount /dev/$VG/sr mnt
vmt_on_exit "umount $VMT_WORK/mnt"
export FILE_SR_DIR=$VMT_WORK/mnt/sr SM_LOCK_DIR=$VMT_WORK/lock SM_MOUNT_BASE=$VMT_WORK/sr-mount
export SR_UUID=3f1c0d9e-5d2a-4b7e-9c61-0e8a2b4f7a10
CONF=$VMT_REPO/examples/dconf/file.conf
$SMCALL "$VMT_BUILD/FileSR" "$CONF" sr_create 0
$SMCALL "$VMT_BUILD/FileSR" "$CONF" sr_attach
$SMCALL "$VMT_BUILD/FileSR" "$CONF" vdi_create 1073741824 vm-test '' '' false 19700101T00:00:00Z '' false | tee vdi
ls -l "$FILE_SR_DIR"
[ "$(ls "$FILE_SR_DIR"/*.vhd | wc -l)" -eq 1 ] || vmt_fail "no VHD file on the ext4 LV"
$SMCALL "$VMT_BUILD/FileSR" "$CONF" sr_scan
$SMCALL "$VMT_BUILD/FileSR" "$CONF" sr_detach
vmt_log "build: FileSR from $VMT_BUILD ran on an ext4 LV"
