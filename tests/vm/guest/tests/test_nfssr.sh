#!/bin/bash
# NFSSR with the guest's kernel NFS client: nfs-ganesha (vmt_nfs_server) on the
# guest's loopback exports a directory of an ext4 file system; for nfsversion 3
# and 4: sr_create (over libnfs), sr_attach really kernel-mounts
# <server>:<serverpath>/<sr> at $SM_MOUNT_BASE/<sr> with the Python SM's
# options (soft,proto=tcp,vers,acdirmin=0,acdirmax=0,timeo,retrans; "hard" with
# hardmount=true), vdi_attach returns the file under that mount with
# nfs-access=kernel-mount, data written through the kernel mount (vhdtool) is
# the same bytes in the export on the server side, snapshot/clone/resize/delete
# (over libnfs) are seen through the mount, sr_scan, sr_detach (unmounted,
# mount point gone), attach again (hardmount=true), detach, sr_delete. Then,
# nfsversion 4.1: sr_detach while the GC is coalescing on the mount (the driver
# stops it, or umount is "busy") and sr_delete after that aborted coalesce.
. "$VMT_REPO/tests/vm/guest/lib.sh"
[ -x "$VMT_BUILD/NFSSR" ] && [ -x "$VMT_BUILD/smcall" ] && [ -x "$VMT_BUILD/vhdtool" ] ||
	vmt_fail "no NFSSR, smcall or vhdtool in $VMT_BUILD (make check-vm builds build-test/)"
SMCALL=$VMT_BUILD/smcall
VHDTOOL=$VMT_BUILD/vhdtool
CONF=$VMT_REPO/examples/dconf/nfs.conf
export SM_LOCK_DIR=$VMT_WORK/lock SM_MOUNT_BASE=$VMT_WORK/sr-mount

# The server: ganesha exports $EXP/nfs (an ext4 file system) as 127.0.0.1:$EXP/nfs.
dev=$(vmt_loop 256M export)
mkfs.ext4 -q -F "$dev"
EXP=$VMT_WORK/srv
mkdir -p "$EXP"
mount -t ext4 "$dev" "$EXP"
vmt_on_exit "umount $EXP"
mkdir -p "$EXP/nfs"
vmt_nfs_server "$EXP/nfs"
# NFSv3 kernel mounts without "nolock" (the driver's options, as the Python
# SM's) need rpc.statd, which a real host runs; mount.nfs would otherwise try
# to start it through systemd.
mkdir -p /var/lib/nfs/sm /var/lib/nfs/sm.bak
setsid rpc.statd -F -L > "$VMT_WORK/statd.log" 2>&1 &
STATD_PID=$!
vmt_on_exit "vmt_stop_pid $STATD_PID"
vmt_wait 10 rpcinfo -t 127.0.0.1 status 1
export NFS_SERVER=127.0.0.1 NFS_SERVERPATH=$EXP/nfs NFS_TIMEOUT=50

nfs() { "$SMCALL" "$VMT_BUILD/NFSSR" "$CONF" "$@"; }
member() { sed -n "s/^$1: //p" "$2"; }
# The /proc/mounts line of the SR's mount point (empty when not mounted).
mount_line() { grep " $MNT nfs4\? " /proc/mounts || true; }
has_opt() { tr ',' '\n' <<<"$1" | grep -Eqx "$2"; }

lifecycle() {
	local v=$1 line o V S C B vers_re
	export NFS_VERSION=$v SR_UUID=$2
	MNT=$SM_MOUNT_BASE/$SR_UUID
	local DIR=$EXP/nfs/$SR_UUID
	# Leave no kernel mount behind if this fails half-way.
	vmt_on_exit "! grep -q ' $MNT ' /proc/mounts || umount -f -l $MNT"
	vmt_log "nfssr: nfsversion $v, SR $SR_UUID"

	# --- create, attach: a kernel mount with the Python SM's options ----------
	nfs sr_create 0
	[ -d "$DIR" ] || vmt_fail "v$v: sr_create made no $DIR"
	[ -z "$(mount_line)" ] || vmt_fail "v$v: sr_create mounted the SR"
	nfs sr_attach
	line=$(mount_line)
	echo "$line"
	[ -n "$line" ] || vmt_fail "v$v: sr_attach did not kernel-mount $MNT"
	[ "$(cut -d' ' -f1 <<<"$line")" = "127.0.0.1:$DIR" ] || vmt_fail "v$v: mounted the wrong export: $line"
	o=$(cut -d' ' -f4 <<<"$line")
	vers_re='vers=3'
	[ "$v" = 3 ] || vers_re='vers=4(\.[0-2])?'
	for want in soft proto=tcp "$vers_re" acdirmin=0 acdirmax=0 timeo=50 retrans=4; do
		has_opt "$o" "$want" || vmt_fail "v$v: mount option $want missing: $o"
	done
	[ "$v" != 3 ] || nfs sr_attach   # idempotent (checked once)
	[ "$(grep -c " $MNT " /proc/mounts)" = 1 ] || vmt_fail "v$v: second sr_attach mounted again"

	# --- a VDI: written through the kernel mount, the same bytes on the server --
	nfs vdi_create 67108864 disk-one | tee v1
	V=$(member uuid v1)
	[ -f "$MNT/$V.vhd" ] || vmt_fail "v$v: $V.vhd not visible through the kernel mount"
	nfs vdi_attach --vdi "$V" true | tee attach
	[ "$(member params attach)" = "$MNT/$V.vhd" ] || vmt_fail "v$v: params is not $MNT/$V.vhd"
	grep -Eq '^ *nfs-access: kernel-mount$' attach || vmt_fail "v$v: xenstore_data lacks nfs-access=kernel-mount"
	vmt_pattern pattern 2
	"$VHDTOOL" write "$(member params attach)" 1048576 pattern
	"$VHDTOOL" read "$DIR/$V.vhd" 1048576 2097152 | cmp - pattern || vmt_fail "v$v: data written through the mount differs in the export"
	nfs vdi_detach --vdi "$V"

	# --- snapshot, clone, resize, delete (libnfs), seen through the mount -------
	nfs vdi_snapshot --vdi "$V" | tee s1
	S=$(member uuid s1)
	nfs vdi_clone --vdi "$V" | tee c1
	C=$(member uuid c1)
	B=$("$VHDTOOL" query "$MNT/$V.vhd" | sed -n 's/^parent_name=\(.*\)\.vhd$/\1/p')
	[ -n "$B" ] && "$VHDTOOL" query "$MNT/$B.vhd" | grep -qx 'hidden=1' ||
		vmt_fail "v$v: through the mount, $V.vhd has no hidden parent after the snapshot"
	"$VHDTOOL" read "$MNT/$S.vhd" 1048576 2097152 | cmp - pattern || vmt_fail "v$v: the snapshot reads other data through the mount"
	# A write to the leaf through the mount: in the export, and the snapshot keeps the old data.
	vmt_pattern pattern2 1
	"$VHDTOOL" write "$MNT/$V.vhd" 1048576 pattern2
	"$VHDTOOL" read "$DIR/$V.vhd" 1048576 1048576 | cmp - pattern2 || vmt_fail "v$v: leaf write not in the export"
	"$VHDTOOL" read "$DIR/$S.vhd" 1048576 2097152 | cmp - pattern || vmt_fail "v$v: the snapshot changed"
	nfs vdi_resize --vdi "$V" 134217728
	"$VHDTOOL" query "$MNT/$V.vhd" | grep -qx 'virtual_size=.* (134217728 bytes)' || vmt_fail "v$v: resize not seen through the mount"
	nfs vdi_delete --vdi "$C"
	[ ! -e "$MNT/$C.vhd" ] || vmt_fail "v$v: $C.vhd still visible through the mount after vdi_delete"
	[ ! -e "$DIR/$C.vhd" ] || vmt_fail "v$v: vdi_delete left $C.vhd in the export"
	nfs sr_scan > scan
	for u in "$V" "$S"; do grep -q "<uuid>$u</uuid>" scan || vmt_fail "v$v: scan lacks $u"; done
	grep -q "<uuid>$C</uuid>" scan && vmt_fail "v$v: scan still lists the deleted $C"

	# --- detach (right after the scan started the GC on the mount) ---------------
	nfs sr_detach
	[ -z "$(mount_line)" ] || vmt_fail "v$v: still mounted after sr_detach"
	[ ! -e "$MNT" ] || vmt_fail "v$v: sr_detach left the mount point $MNT"
	[ "$v" != 3 ] || nfs sr_detach   # idempotent (checked once)

	# --- attach again, hardmount=true: "hard" instead of "soft" ------------------
	nfs sr_attach --dconf hardmount=true
	o=$(mount_line | cut -d' ' -f4)
	echo "$o"
	has_opt "$o" hard && ! has_opt "$o" soft || vmt_fail "v$v: hardmount=true did not mount hard: $o"
	"$VHDTOOL" read "$MNT/$S.vhd" 1048576 2097152 | cmp - pattern || vmt_fail "v$v: data lost across detach/attach"
	"$VHDTOOL" read "$MNT/$V.vhd" 1048576 1048576 | cmp - pattern2 || vmt_fail "v$v: leaf data lost across detach/attach"
	nfs sr_detach --dconf hardmount=true
	[ -z "$(mount_line)" ] && [ ! -e "$MNT" ] || vmt_fail "v$v: the hard mount is left after sr_detach"

	# --- delete ------------------------------------------------------------------
	for u in "$V" "$S"; do nfs vdi_delete --vdi "$u"; done
	nfs sr_delete
	[ ! -e "$DIR" ] || vmt_fail "v$v: sr_delete left $DIR: $(ls -A "$DIR")"
	[ "$v" != 3 ] || nfs sr_delete   # idempotent (checked once)
	vmt_log "nfssr: nfsversion $v lifecycle over a kernel mount ok"
}

# sr_detach while the GC, which runs on the kernel mount only, is copying a
# coalesce there: the driver stops it first (as the Python SM's detach), or
# umount fails "device is busy". Two snapshots, the first one deleted: the
# second base (32 MiB of data) is coalesced into the first.
gc_during_detach() {
	local V S1 S2 st
	export NFS_VERSION=4.1 SR_UUID=$1
	MNT=$SM_MOUNT_BASE/$SR_UUID
	local DIR=$EXP/nfs/$SR_UUID
	vmt_on_exit "! grep -q ' $MNT ' /proc/mounts || umount -f -l $MNT"
	nfs sr_create 0
	nfs sr_attach
	has_opt "$(mount_line | cut -d' ' -f4)" 'vers=4\.1' || vmt_fail "nfsversion 4.1: not a 4.1 mount: $(mount_line)"
	nfs vdi_create 268435456 | tee v1
	V=$(member uuid v1)
	"$VHDTOOL" write "$MNT/$V.vhd" 0 pattern
	nfs vdi_snapshot --vdi "$V" | tee s1
	S1=$(member uuid s1)
	vmt_pattern big 32
	"$VHDTOOL" write "$MNT/$V.vhd" 67108864 big
	nfs vdi_snapshot --vdi "$V" | tee s2
	S2=$(member uuid s2)
	nfs vdi_delete --vdi "$S1"   # starts the GC on the mount
	# --status exits 4 for an aborted or dead GC: its output is what counts here.
	st=$("$VMT_BUILD/csm-gc" --sr "$SR_UUID" --status || true)
	echo "$st"
	nfs sr_detach
	[ -z "$(mount_line)" ] && [ ! -e "$MNT" ] || vmt_fail "sr_detach with the GC at work left the mount"
	{ "$VMT_BUILD/csm-gc" --sr "$SR_UUID" --status || true; } | tee st-after
	if grep -qx 'running=yes' <<<"$st"; then
		grep -qx 'state=aborted' st-after || vmt_fail "the GC was running at sr_detach but was not aborted"
		vmt_log "nfssr: sr_detach stopped the GC in the middle of a coalesce and unmounted"
	else
		vmt_log "nfssr: the GC had finished before sr_detach (fast machine): no race exercised"
	fi
	# The next attach resumes the GC; the data reads the same through the chain.
	nfs sr_attach
	"$VHDTOOL" read "$MNT/$V.vhd" 0 2097152 | cmp - pattern || vmt_fail "data after the aborted coalesce"
	tail -c 4194304 big > big.tail
	"$VHDTOOL" read "$MNT/$S2.vhd" $((67108864 + 29360128)) 4194304 | cmp - big.tail ||
		vmt_fail "snapshot data after the aborted coalesce"
	nfs vdi_delete --vdi "$S2"
	nfs vdi_delete --vdi "$V"
	nfs sr_detach
	SM_LOG_STDERR=1 nfs sr_delete 2> delete.log || { cat delete.log; ls -laR "$DIR"; vmt_fail "sr_delete after the aborted coalesce"; }
	[ ! -e "$DIR" ] || vmt_fail "sr_delete left $DIR: $(ls -A "$DIR")"
	grep 'dropping journal record' delete.log || true
}

lifecycle 3 5b0e8c1a-3f2d-4e6b-9a7c-1d2e3f4a5b6c
lifecycle 4 8e7d6c5b-4a3f-4e2d-8c1b-0a9f8e7d6c5b
gc_during_detach 2c4e6a8b-1d3f-4a5c-8e7b-9d0f1a2b3c4d
vmt_log "nfssr: v3, v4 and v4.1 kernel mounts: create, attach, VDIs with data, detach (also with the GC at work), re-attach, delete ok"
