#!/bin/bash
# Kernel path: the data path with the kernel's NBD client.  A FileSR on ext4
# (a loop device), a VDI activated (vdi_activate starts nbdkit with
# csm-nbdkit.so), nbd-client connects /dev/nbd0 to its socket, mkfs.ext4,
# files written, the VDI snapshotted while mounted (frozen: fsfreeze), more
# files after the snapshot; the snapshot activated on /dev/nbd1 and its file
# system checked by e2fsck and compared; the original checked after umount;
# deactivate leaves no server.
. "$VMT_REPO/tests/vm/guest/lib.sh"
[ -x "$VMT_BUILD/FileSR" ] && [ -x "$VMT_BUILD/smcall" ] && [ -f "$VMT_BUILD/csm-nbdkit.so" ] ||
	vmt_fail "no FileSR or csm-nbdkit.so in $VMT_BUILD (make check-vm builds build-test/)"
command -v nbd-client >/dev/null || vmt_skip "no nbd-client (Debian package nbd-client; tests/setup-deps.sh vm)"
command -v nbdkit >/dev/null || vmt_skip "no nbdkit (Debian package nbdkit; tests/setup-deps.sh vm)"
modprobe nbd nbds_max=4 || vmt_skip "the guest kernel has no nbd module"
SMCALL=$VMT_BUILD/smcall
CONF=$VMT_REPO/examples/dconf/file.conf
export SM_LOCK_DIR=$VMT_WORK/lock SM_MOUNT_BASE=$VMT_WORK/sr-mount CSM_GC=off
export CSM_NBD=on CSM_NBD_DIR=$VMT_WORK/nbd
export SR_UUID=2b7e4c1d-9a3f-4e6b-8d2c-5f1a0e9b7c3d

# The SR on ext4, as an EXTSR's would be (tmpfs has no O_DIRECT).
DEV=$(vmt_loop 768M sr)
mkfs.ext4 -q -F "$DEV"
mkdir -p srfs mnt snap
mount -t ext4 "$DEV" srfs
vmt_on_exit "umount $VMT_WORK/srfs 2>/dev/null || true"
export FILE_SR_DIR=$VMT_WORK/srfs/sr

file() { "$SMCALL" "$VMT_BUILD/FileSR" "$CONF" "$@"; }
member() { sed -n "s/^$1: //p" "$2"; }
connect() { # connect <vdi> <nbd device>
	nbd-client -u -N "$1" -b 4096 "$CSM_NBD_DIR/$SR_UUID/$1" "$2"
	vmt_on_exit "nbd-client -d $2 >/dev/null 2>&1 || true"
	vmt_wait 10 test "$(cat /sys/block/${2#/dev/}/size)" -gt 0
}
server_pid() { sed -n 's/^pid=//p' "$CSM_NBD_DIR/$SR_UUID/$1.server"; }
# gone <pid>: no such process, or a zombie (init reaps the server, in its time).
gone() { ! grep -q '^State:[[:space:]]*[^Z]' "/proc/$1/status" 2>/dev/null; }

file sr_create 0
file sr_attach
file vdi_create 256M >vdi.out
V=$(member uuid vdi.out)
file vdi_attach --vdi "$V" true
file vdi_activate --vdi "$V" true
vmt_on_exit "$SMCALL $VMT_BUILD/FileSR $CONF vdi_deactivate --vdi $V >/dev/null 2>&1 || true"
P=$(server_pid "$V")
kill -0 "$P" || vmt_fail "no server after vdi_activate"

connect "$V" /dev/nbd0
mkfs.ext4 -q -F /dev/nbd0
mount -t ext4 /dev/nbd0 mnt
vmt_on_exit "umount $VMT_WORK/mnt 2>/dev/null || true"
vmt_pattern mnt/before 16
cp mnt/before before
mkdir mnt/dir
for i in $(seq 50); do echo "file $i" >"mnt/dir/f$i"; done

# Snapshot while mounted: frozen, so the snapshot is a clean file system
# (the journal may still need a replay, which e2fsck -fy does).
fsfreeze -f mnt
vmt_on_exit "fsfreeze -u $VMT_WORK/mnt 2>/dev/null || true"
file vdi_snapshot --vdi "$V" >snap.out || { fsfreeze -u mnt; vmt_fail "vdi_snapshot of a mounted VDI failed"; }
fsfreeze -u mnt
S=$(member uuid snap.out)
[ "$(server_pid "$V")" = "$P" ] || vmt_fail "the snapshot replaced the server"
vmt_pattern mnt/after 8
cp mnt/after after
sync

# The snapshot: its own server, its own device, checked and compared.
file vdi_attach --vdi "$S" true
file vdi_activate --vdi "$S" true
vmt_on_exit "$SMCALL $VMT_BUILD/FileSR $CONF vdi_deactivate --vdi $S >/dev/null 2>&1 || true"
connect "$S" /dev/nbd1
rc=0
e2fsck -f -y /dev/nbd1 || rc=$?
[ $rc -le 1 ] || vmt_fail "e2fsck -fy of the snapshot: exit $rc"
e2fsck -f -n /dev/nbd1 || vmt_fail "the snapshot's file system is not clean after the journal replay"
mount -t ext4 -o ro /dev/nbd1 snap
vmt_on_exit "umount $VMT_WORK/snap 2>/dev/null || true"
cmp snap/before before || vmt_fail "the snapshot lost the file written before it"
[ "$(cat snap/dir/f50)" = "file 50" ] || vmt_fail "the snapshot lost dir/f50"
[ ! -e snap/after ] || vmt_fail "the snapshot holds a file written after it"
umount snap
nbd-client -d /dev/nbd1

# The original: everything, before and after the snapshot, and a clean check.
cmp mnt/after after || vmt_fail "the original lost the file written after the snapshot"
umount mnt
e2fsck -f -n /dev/nbd0 || vmt_fail "the original's file system is not clean"
nbd-client -d /dev/nbd0

file vdi_deactivate --vdi "$S"
file vdi_deactivate --vdi "$V"
vmt_wait 5 gone "$P" || vmt_fail "server $P still runs after vdi_deactivate"
[ -z "$(ls -A "$CSM_NBD_DIR/$SR_UUID")" ] || vmt_fail "deactivate left $(ls -A "$CSM_NBD_DIR/$SR_UUID")"
"$VMT_BUILD/vhdtool" check "$FILE_SR_DIR/$V.vhd" "$FILE_SR_DIR/$S.vhd"
vmt_log "nbd: kernel client on the VDI's server, mkfs, snapshot while mounted, fsck of the snapshot ok"
