#!/bin/bash
# Kernel path: ext4 on a logical volume. mkfs.ext4 on an LV, mount it, write a
# file, unmount, fsck, mount again and read it back; grow the LV and the file
# system while mounted.
. "$VMT_REPO/tests/vm/guest/lib.sh"
VG=vmt_ext4
vmt_vg $VG 512M
lvcreate -q -y -L 128M -n fs $VG
mkfs.ext4 -q -F /dev/$VG/fs
mkdir -p mnt
mount -t ext4 /dev/$VG/fs mnt
vmt_on_exit "umount $VMT_WORK/mnt 2>/dev/null || true"
grep " $VMT_WORK/mnt ext4 " /proc/mounts
vmt_pattern mnt/data 8
cp mnt/data expected
umount mnt
e2fsck -f -n /dev/$VG/fs
mount -t ext4 /dev/$VG/fs mnt
cmp mnt/data expected
lvextend -q -L +64M /dev/$VG/fs
resize2fs /dev/$VG/fs
size=$(df -k --output=size mnt | tail -1)
[ "$size" -gt 150000 ] || vmt_fail "file system not grown: $size KiB"
cmp mnt/data expected
vmt_log "ext4: mkfs, mount, fsck, online resize ok"
