#!/bin/bash
# ISCSISR's data path over the guest's kernel initiator (open-iscsi + iscsi_tcp),
# against tgtd in the guest (tests/iscsi/target.sh: a plain target with two
# file-backed LUNs, a CHAP target, on 127.0.0.1): sr_attach logs the host in
# (a session in /sys/class/iscsi_session, the SR in /run/sr-ref/<IQN>);
# vdi_attach returns the LUN's block device, found through sysfs (no udev in
# the guest), and what is written there lands in the LUN's backing file and
# the reverse; a second SR on the same target shares the session (the sr-ref
# file lists both; the first sr_detach keeps the session, the last logs out
# and deletes the node record); sr_create logs nothing in, a localIQN that is
# not the host's initiator name is 68 with nothing left, sr_delete forgets the
# managed bits; a CHAP login through the kernel; a wrong CHAP secret leaves no
# session.
. "$VMT_REPO/tests/vm/guest/lib.sh"
[ -x "$VMT_BUILD/ISCSISR" ] && [ -x "$VMT_BUILD/smcall" ] ||
	vmt_fail "no ISCSISR in $VMT_BUILD (make check-vm builds build-test/)"
SMCALL=$VMT_BUILD/smcall
CONF=$VMT_REPO/examples/dconf/iscsi.conf
export SM_LOCK_DIR=$VMT_WORK/lock CSM_ISCSI_STATE_DIR=$VMT_WORK/state
SR_A=5a1e3c2b-7d4f-4e6a-8b9c-0d1e2f3a4b5c
SR_B=6b2f4d3c-8e5a-4f7b-9cad-1e2f3a4b5c6d
SR_C=7c3a5e4d-9f6b-4a8c-adbe-2f3a4b5c6d7e
# The guest is thrown away: the sr-ref files are at the driver's default
# place, as on a host (the Python SM shares them there).
REF_DIR=/run/sr-ref

# The target first and iscsid second: the cleanups run in reverse order, so
# the sessions are logged out while both still run.
. "$VMT_REPO/tests/iscsi/target.sh"
iscsi_target_start "$VMT_WORK/tgt" || vmt_fail "the test target did not start"
vmt_on_exit iscsi_target_stop
vmt_iscsid
vmt_on_exit "iscsiadm -m node -u >/dev/null 2>&1; iscsiadm -m node -o delete >/dev/null 2>&1; rm -rf $REF_DIR"
# iscsid logs in with the host's initiator name: localIQN must be it.
ISCSI_LOCAL_IQN=$(sed -n 's/^InitiatorName=//p' /etc/iscsi/initiatorname.iscsi)
[ -n "$ISCSI_LOCAL_IQN" ] || vmt_fail "no InitiatorName in /etc/iscsi/initiatorname.iscsi"
export ISCSI_TARGET=127.0.0.1 ISCSI_TARGET_IQN=$ISCSI_IQN_PLAIN ISCSI_LOCAL_IQN
IQN=$ISCSI_IQN_PLAIN
# The LUNs' VDI uuids: md5 of the SCSIid (tests/integration/test_iscsisr.sh).
U1=cc26187c-5707-6d73-0070-e541a4ac88c7   # LUN 1, 64 MiB, SCSIid 360000000000000000e00000000010001
U2=c558df94-29df-583e-f0fb-e552d2913125   # LUN 2, 32 MiB, SCSIid 3600000000000000000000e0012345678

iscsi() { "$SMCALL" "$VMT_BUILD/ISCSISR" "$CONF" "$@"; }
# fault CODE CMD...: the call must fail with exactly that code.
fault() {
	local code=$1 out; shift
	out=$(iscsi "$@" 2>/dev/null) && vmt_fail "$* succeeded, expected fault $code"
	grep -q "^FAULT $code " <<<"$out" || vmt_fail "$*: expected fault $code, got: $out"
}
# sessions_to IQN: the kernel's sessions to IQN (session<N> names), from sysfs.
sessions_to() {
	local s
	for s in /sys/class/iscsi_session/session*; do
		[ -e "$s/targetname" ] && [ "$(cat "$s/targetname")" = "$1" ] && basename "$s"
	done
	return 0
}
# refs IQN: the SRs in the IQN's sr-ref file, sorted, on one line.
refs() { [ -e "$REF_DIR/$1" ] && sort "$REF_DIR/$1" | xargs; return 0; }
# attach_dev VDI SR: vdi_attach's params, which must be a block device.
attach_dev() {
	local dev
	dev=$(SR_UUID=$2 iscsi vdi_attach --vdi "$1" true | sed -n 's/^params: //p')
	[ -n "$dev" ] || vmt_fail "vdi_attach of $1 gave no params"
	[ -b "$dev" ] || vmt_fail "vdi_attach of $1: $dev is not a block device"
	echo "$dev"
}
# in_session DEV IQN: DEV is a disk of the kernel's session to IQN.
in_session() {
	local s=$(sessions_to "$2")
	[ -n "$s" ] && [ -e "/sys/class/iscsi_session/$s/device" ] &&
		ls /sys/class/iscsi_session/"$s"/device/target*/*/block 2>/dev/null | grep -qx "${1#/dev/}"
}

# --- create: the control path only; attach: the kernel login ------------------------
[ -z "$(sessions_to "$IQN")" ] || vmt_fail "a session to $IQN before the test"
SR_UUID=$SR_A iscsi sr_create 0
[ -z "$(sessions_to "$IQN")" ] || vmt_fail "sr_create logged the kernel in"
# Another initiator name than the host's: the control path may use it, the
# kernel cannot (the Python SM rewrites the host's file; we do not): 68, and
# nothing left behind.
SR_UUID=$SR_A fault 68 sr_attach --dconf localIQN=iqn.2024-01.org.example.vmtest:other
[ -z "$(sessions_to "$IQN")" ] || vmt_fail "a refused sr_attach left a session"
[ -z "$(refs "$IQN")" ] || vmt_fail "a refused sr_attach left '$(refs "$IQN")' in sr-ref"
SR_UUID=$SR_A iscsi sr_attach
S=$(sessions_to "$IQN")
[ "$(wc -w <<<"$S")" = 1 ] || vmt_fail "sr_attach: sessions to $IQN: '$S', expected one"
[ "$(refs "$IQN")" = "$SR_A" ] || vmt_fail "sr-ref after sr_attach: '$(refs "$IQN")'"
iscsiadm -m session
SR_UUID=$SR_A iscsi sr_attach   # idempotent: no second session, no second entry
[ "$(sessions_to "$IQN")" = "$S" ] || vmt_fail "second sr_attach changed the sessions: $(sessions_to "$IQN")"
[ "$(wc -l < "$REF_DIR/$IQN")" = 1 ] || vmt_fail "second sr_attach added a second sr-ref line"

# --- VDIs: the LUNs' block devices ------------------------------------------------
SR_UUID=$SR_A iscsi sr_scan > scan
for u in "$U1" "$U2"; do grep -q "<uuid>$u</uuid>" scan || vmt_fail "sr_scan lacks $u"; done
SR_UUID=$SR_A iscsi vdi_create 16M | grep -qx "uuid: $U2" || vmt_fail "vdi_create 16M did not pick the 32 MiB LUN"
SR_UUID=$SR_A iscsi vdi_create 64M | grep -qx "uuid: $U1" || vmt_fail "vdi_create 64M did not pick the 64 MiB LUN"
DEV1=$(attach_dev "$U1" "$SR_A")
DEV2=$(attach_dev "$U2" "$SR_A")
[ "$DEV1" != "$DEV2" ] || vmt_fail "both VDIs attached as $DEV1"
in_session "$DEV1" "$IQN" || vmt_fail "$DEV1 is not a disk of session $S"
in_session "$DEV2" "$IQN" || vmt_fail "$DEV2 is not a disk of session $S"
[ "$(blockdev --getsize64 "$DEV1")" = $((64 << 20)) ] || vmt_fail "$DEV1 is not the 64 MiB LUN"
[ "$(blockdev --getsize64 "$DEV2")" = $((32 << 20)) ] || vmt_fail "$DEV2 is not the 32 MiB LUN"
grep -q 12345678 "/sys/block/${DEV2#/dev/}/device/wwid" || vmt_fail "$DEV2's wwid is not LUN 2's"

# Written through the device: in the backing file; written in the backing
# file: read through the device (O_DIRECT both ways: no page cache between).
vmt_pattern pattern 4
dd if=pattern of="$DEV1" bs=1M seek=3 oflag=direct conv=fsync status=none
dd if="$ISCSI_LUN_DIR/lun1.img" bs=1M skip=3 count=4 status=none | cmp - pattern ||
	vmt_fail "data written to $DEV1 is not in lun1.img"
vmt_pattern pattern2 2
dd if=pattern2 of="$ISCSI_LUN_DIR/lun2.img" bs=1M seek=5 conv=notrunc,fsync status=none
dd if="$DEV2" bs=1M skip=5 count=2 iflag=direct status=none | cmp - pattern2 ||
	vmt_fail "data written to lun2.img does not read back through $DEV2"

# The data path: vdi_activate serves the LUN's device raw on params_nbd's
# socket (nbdkit + csm-nbdkit.so device= format=raw); the kernel's NBD
# client writes through it into the LUN; deactivate flushes and stops it.
if modprobe nbd nbds_max=4 2>/dev/null && command -v nbdkit >/dev/null && command -v nbd-client >/dev/null; then
	SOCK=$CSM_NBD_DIR/$SR_A/$U1
	CSM_NBD=on SR_UUID=$SR_A iscsi vdi_activate --vdi "$U1" true
	[ -S "$SOCK" ] || vmt_fail "vdi_activate of the LUN VDI $U1 left no socket at $SOCK"
	CSM_NBD=on SR_UUID=$SR_A iscsi vdi_activate --vdi "$U1" true   # idempotent
	nbd-client -u -N "$U1" -b 4096 "$SOCK" /dev/nbd2
	vmt_on_exit "nbd-client -d /dev/nbd2 >/dev/null 2>&1 || true"
	vmt_wait 10 test "$(cat /sys/block/nbd2/size)" -gt 0
	[ "$(blockdev --getsize64 /dev/nbd2)" = $((64 << 20)) ] || vmt_fail "/dev/nbd2 is not the 64 MiB LUN"
	vmt_pattern pattern3 2
	dd if=pattern3 of=/dev/nbd2 bs=1M seek=9 oflag=direct conv=fsync status=none
	dd if=/dev/nbd2 bs=1M skip=3 count=4 iflag=direct status=none | cmp - pattern ||
		vmt_fail "what was written through $DEV1 does not read back through the NBD server"
	nbd-client -d /dev/nbd2 >/dev/null
	CSM_NBD=on SR_UUID=$SR_A iscsi vdi_deactivate --vdi "$U1"
	[ ! -e "$SOCK" ] || vmt_fail "vdi_deactivate left $SOCK"
	dd if="$ISCSI_LUN_DIR/lun1.img" bs=1M skip=9 count=2 status=none | cmp - pattern3 ||
		vmt_fail "data written through the NBD server is not in lun1.img"
	CSM_NBD=on SR_UUID=$SR_A iscsi vdi_activate --vdi "$U1" false
	[ -S "$SOCK" ] || vmt_fail "a read-only activate left no socket"
	grep -q '^mode=RO' "$SOCK.server" || vmt_fail "a read-only activate is not served read-only"
	CSM_NBD=on SR_UUID=$SR_A iscsi vdi_deactivate --vdi "$U1"
else
	vmt_fail "the guest lacks nbd, nbdkit or nbd-client (tests/vm/setup.sh installs them)"
fi

SR_UUID=$SR_A iscsi vdi_detach --vdi "$U1"
SR_UUID=$SR_A iscsi vdi_detach --vdi "$U2"
SR_UUID=$SR_A fault 46 vdi_attach --vdi 00000000-0000-4000-8000-000000000000 true

# --- a second SR on the same target: one session, two references --------------------
SR_UUID=$SR_B iscsi sr_attach
[ "$(sessions_to "$IQN")" = "$S" ] || vmt_fail "the second SR did not share $S: $(sessions_to "$IQN")"
[ "$(refs "$IQN")" = "$(printf '%s\n' "$SR_A" "$SR_B" | sort | xargs)" ] ||
	vmt_fail "sr-ref with two SRs: '$(refs "$IQN")'"
[ "$(attach_dev "$U1" "$SR_B")" = "$DEV1" ] || vmt_fail "SR B attached $U1 elsewhere than $DEV1"
SR_UUID=$SR_A iscsi sr_detach
[ "$(sessions_to "$IQN")" = "$S" ] || vmt_fail "the first sr_detach logged out (SR B still uses $S)"
[ "$(refs "$IQN")" = "$SR_B" ] || vmt_fail "sr-ref after the first sr_detach: '$(refs "$IQN")'"
dd if="$DEV1" bs=1M skip=3 count=4 iflag=direct status=none | cmp - pattern ||
	vmt_fail "$DEV1 unreadable after the first sr_detach"
SR_UUID=$SR_B iscsi vdi_detach --vdi "$U1"
SR_UUID=$SR_B iscsi sr_detach
[ -z "$(sessions_to "$IQN")" ] || vmt_fail "the last sr_detach left the session: $(sessions_to "$IQN")"
[ -z "$(refs "$IQN")" ] || vmt_fail "sr-ref after the last sr_detach: '$(refs "$IQN")'"
vmt_wait 10 test ! -e "/sys/block/${DEV1#/dev/}" || vmt_fail "$DEV1 still there after the logout"
iscsiadm -m node -T "$IQN" >/dev/null 2>&1 && vmt_fail "the node record of $IQN is left after the last sr_detach"
SR_UUID=$SR_B iscsi sr_detach   # idempotent
[ -e "$CSM_ISCSI_STATE_DIR/$SR_A" ] || vmt_fail "no managed bits of $SR_A after vdi_create"
SR_UUID=$SR_A iscsi sr_delete
[ ! -e "$CSM_ISCSI_STATE_DIR/$SR_A" ] || vmt_fail "sr_delete left the managed bits"

# --- CHAP through the kernel initiator ----------------------------------------------------
CHAP=(--dconf "targetIQN=$ISCSI_IQN_CHAP" --dconf "chapuser=$ISCSI_CHAP_USER")
SR_UUID=$SR_C fault 68 sr_attach "${CHAP[@]}" --dconf chappassword=wrongsecret99
[ -z "$(sessions_to "$ISCSI_IQN_CHAP")" ] || vmt_fail "a wrong CHAP secret left a session"
SR_UUID=$SR_C iscsi sr_attach "${CHAP[@]}" --dconf "chappassword=$ISCSI_CHAP_PASSWORD"
[ -n "$(sessions_to "$ISCSI_IQN_CHAP")" ] || vmt_fail "no kernel session to the CHAP target"
UC=$(printf %s 360000000000000000e00000000020001 | md5sum |
	sed 's/^\(........\)\(....\)\(....\)\(....\)\(............\).*/\1-\2-\3-\4-\5/')
DEVC=$(SR_UUID=$SR_C iscsi vdi_attach --vdi "$UC" true "${CHAP[@]}" --dconf "chappassword=$ISCSI_CHAP_PASSWORD" |
	sed -n 's/^params: //p')
[ -b "$DEVC" ] && in_session "$DEVC" "$ISCSI_IQN_CHAP" || vmt_fail "CHAP LUN: '$DEVC' is not its block device"
dd if=pattern2 of="$DEVC" bs=1M oflag=direct conv=fsync status=none
dd if="$ISCSI_LUN_DIR/chap1.img" bs=1M count=2 status=none | cmp - pattern2 || vmt_fail "CHAP LUN write not in chap1.img"
SR_UUID=$SR_C iscsi sr_detach "${CHAP[@]}" --dconf "chappassword=$ISCSI_CHAP_PASSWORD"
[ -z "$(sessions_to "$ISCSI_IQN_CHAP")" ] || vmt_fail "sr_detach left the CHAP session"
vmt_log "iscsisr: kernel login, LUN devices read and written, shared session refcount, CHAP ok"
