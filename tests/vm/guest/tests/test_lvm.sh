#!/bin/bash
# Kernel path: device-mapper. LVM on a loop device: create a VG and an LV,
# deactivate and reactivate it, and write then read back data through /dev/VG/LV.
. "$VMT_REPO/tests/vm/guest/lib.sh"
VG=vmt_lvm
vmt_vg $VG 256M
lvcreate -q -y -L 32M -n raw $VG
[ -b /dev/$VG/raw ] || vmt_fail "/dev/$VG/raw missing after lvcreate"
lvchange -an $VG/raw
[ ! -e /dev/$VG/raw ] || vmt_fail "/dev/$VG/raw still there after lvchange -an"
dmsetup info "$VG-raw" >/dev/null 2>&1 && vmt_fail "dm device still there after lvchange -an"
lvchange -ay $VG/raw
[ -b /dev/$VG/raw ] || vmt_fail "/dev/$VG/raw missing after lvchange -ay"
dmsetup table "$VG-raw"
lvs -o lv_name,lv_attr,lv_size,devices $VG

vmt_pattern pattern 4
dd if=pattern of=/dev/$VG/raw bs=1M oflag=direct conv=fsync status=none
dd if=/dev/$VG/raw bs=1M count=4 iflag=direct status=none | cmp - pattern
# The data survives a deactivate/activate cycle (it is on the PV, not in a cache).
lvchange -an $VG/raw
lvchange -ay $VG/raw
dd if=/dev/$VG/raw bs=1M count=4 iflag=direct status=none | cmp - pattern
vmt_log "lvm: write/read through /dev/$VG/raw ok"
