#!/bin/bash
# Kernel path: the NFS client. nfs-ganesha in the guest exports a directory on an
# ext4 file system; the kernel mounts it with NFSv3 and NFSv4 (mount.nfs) and
# files written through each mount land in the export and are seen by the other.
. "$VMT_REPO/tests/vm/guest/lib.sh"
dev=$(vmt_loop 128M export)
mkfs.ext4 -q -F "$dev"
EXP=$VMT_WORK/srv
mkdir -p "$EXP"
mount -t ext4 "$dev" "$EXP"
vmt_on_exit "umount $EXP"
mkdir -p "$EXP/sr"
vmt_nfs_server "$EXP/sr"
rpcinfo -p 127.0.0.1

vmt_nfs_mount 3 "127.0.0.1:$EXP/sr" "$VMT_WORK/nfs3"
grep " $VMT_WORK/nfs3 nfs " /proc/mounts | grep -q 'vers=3' || vmt_fail "not an NFSv3 mount"
grep " $VMT_WORK/nfs3 " /proc/mounts
vmt_pattern nfs3/via-v3 2
sync
cmp nfs3/via-v3 "$EXP/sr/via-v3"

vmt_nfs_mount 4 "127.0.0.1:$EXP/sr" "$VMT_WORK/nfs4"
grep " $VMT_WORK/nfs4 nfs4 " /proc/mounts | grep -q 'vers=4' || vmt_fail "not an NFSv4 mount"
grep " $VMT_WORK/nfs4 " /proc/mounts
cmp nfs4/via-v3 "$EXP/sr/via-v3"
vmt_pattern nfs4/via-v4 2
sync
cmp nfs4/via-v4 "$EXP/sr/via-v4"
cmp nfs3/via-v4 "$EXP/sr/via-v4"
mkdir nfs4/dir && touch nfs4/dir/f && [ -f "$EXP/sr/dir/f" ]
rm -r nfs3/dir && [ ! -e "$EXP/sr/dir" ]
vmt_log "nfs: v3 and v4 mounts of the ganesha export ok"
