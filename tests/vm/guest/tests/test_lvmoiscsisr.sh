#!/bin/bash
# LVMoISCSISR end to end over the guest's kernel initiator, with LVM
# activation (device-mapper), against tgtd in the guest (tests/iscsi/target.sh,
# LUN 1 of the plain target, 256 MiB, file-backed): sr_create (VG on the LUN's
# /dev/sdX, the session given back), sr_attach (a kernel session, the SR in
# /run/sr-ref/<IQN>), vdi_create, vdi_attach + vdi_activate (an active LV whose
# VHD is written and read through its device node with vhdtool), vdi_snapshot
# (the snapshot reads the same data), vdi_detach, sr_detach (logout, no
# device-mapper node of the VG left), sr_attach again (a new session: the data
# was on the target), sr_delete (logout, no dm node, no LVM label left in the
# LUN's backing file).
. "$VMT_REPO/tests/vm/guest/lib.sh"
[ -x "$VMT_BUILD/LVMoISCSISR" ] && [ -x "$VMT_BUILD/smcall" ] && [ -x "$VMT_BUILD/vhdtool" ] ||
	vmt_fail "no LVMoISCSISR, smcall or vhdtool in $VMT_BUILD (make check-vm builds build-test/)"
modprobe dm_mod
SMCALL=$VMT_BUILD/smcall
VHDTOOL=$VMT_BUILD/vhdtool
CONF=$VMT_REPO/examples/dconf/lvmoiscsi.conf
export SM_LOCK_DIR=$VMT_WORK/lock SM_REFCOUNT_DIR=$VMT_WORK/refcount CSM_GC=off CSM_LVM_BACKUP=off
export SR_UUID=3d5b7f9a-1c2e-4a4b-8d6f-8a9b0c1d2e3f
VG=VG_XenStorage-$SR_UUID
DM_VG=${VG//-/--}   # device-mapper names double the dashes of VG and LV names
REF_DIR=/run/sr-ref
SCSI1=360000000000000000e00000000010001

export ISCSI_LUN1_SIZE=256M
. "$VMT_REPO/tests/iscsi/target.sh"
iscsi_target_start "$VMT_WORK/tgt" || vmt_fail "the test target did not start"
vmt_on_exit iscsi_target_stop
vmt_iscsid
# A failed test leaves no dm device, session or node record behind (the
# target and iscsid stop after this, in reverse order).
vmt_on_exit "vgchange -an $VG >/dev/null 2>&1; iscsiadm -m node -u >/dev/null 2>&1;" \
	"iscsiadm -m node -o delete >/dev/null 2>&1; rm -rf $REF_DIR"
# iscsid logs in with the host's initiator name: localIQN must be it.
ISCSI_LOCAL_IQN=$(sed -n 's/^InitiatorName=//p' /etc/iscsi/initiatorname.iscsi)
[ -n "$ISCSI_LOCAL_IQN" ] || vmt_fail "no InitiatorName in /etc/iscsi/initiatorname.iscsi"
export ISCSI_TARGET=127.0.0.1 ISCSI_TARGET_IQN=$ISCSI_IQN_PLAIN ISCSI_SCSIID=$SCSI1 ISCSI_LOCAL_IQN
IQN=$ISCSI_IQN_PLAIN

lvmo() { "$SMCALL" "$VMT_BUILD/LVMoISCSISR" "$CONF" "$@"; }
member() { sed -n "s/^$1: //p" "$2"; }
sessions() {
	local s
	for s in /sys/class/iscsi_session/session*; do
		[ -e "$s/targetname" ] && [ "$(cat "$s/targetname")" = "$IQN" ] && basename "$s"
	done
	return 0
}
refs() { [ -e "$REF_DIR/$IQN" ] && sort "$REF_DIR/$IQN" | xargs; return 0; }
dm_nodes() { dmsetup ls 2>/dev/null | grep -F "$DM_VG" || true; }
# lun_disk: the /dev/sdX of the session's LUN 1 (through sysfs: no udev).
lun_disk() { ls /sys/class/iscsi_session/"$(sessions)"/device/target*/*:1/block 2>/dev/null; }
# off_session: no session, no sr-ref entry, no device-mapper node of the VG.
off_session() {
	[ -z "$(sessions)" ] || vmt_fail "$1: the session is still there: $(sessions)"
	[ -z "$(refs)" ] || vmt_fail "$1: sr-ref still lists '$(refs)'"
	[ -z "$(dm_nodes)" ] || vmt_fail "$1: device-mapper nodes left: $(dm_nodes)"
	[ ! -e "/dev/$VG" ] || vmt_fail "$1: /dev/$VG left: $(ls "/dev/$VG")"
}
# pv_label: the LUN's backing file has an LVM label (LABELONE in sector 1).
pv_label() { [ "$(dd if="$ISCSI_LUN_DIR/lun1.img" bs=8 skip=64 count=1 status=none)" = LABELONE ]; }
# chain_read DEV: the 3 MiB at 2 MiB of the VHD chain whose leaf is DEV.  A
# child's parent locator names the parent's device-mapper node
# (VG_XenStorage--<sr>-VHD--<uuid>, as the Python SM's LVHD images do);
# vhdtool looks for a parent beside the child, so the nodes get links there
# while it reads (removed again: LVM removes /dev/$VG only when empty).
chain_read() {
	local m rc=0
	for m in /dev/mapper/"$DM_VG"-*; do ln -sf "$m" "/dev/$VG/${m##*/}"; done
	"$VHDTOOL" read "$1" $((2 * 1048576)) $((3 * 1048576)) || rc=$?
	rm -f /dev/"$VG"/"$DM_VG"-*
	return $rc
}
# attached VDI RW: vdi_attach and vdi_activate; prints the active LV's node.
attached() {
	local dev
	lvmo vdi_attach --vdi "$1" "$2" > "attach-$1"
	dev=$(member params "attach-$1")
	[ "$dev" = "/dev/$VG/VHD-$1" ] || vmt_fail "vdi_attach of $1 answered '$dev'"
	lvmo vdi_activate --vdi "$1" "$2" >&2
	[ -b "$dev" ] || vmt_fail "$dev is not a block device after vdi_activate"
	dmsetup info "$DM_VG-VHD--${1//-/--}" | grep -q '^State: *ACTIVE' || vmt_fail "$1's dm node not active"
	echo "$dev"
}

# --- create: a VG on the LUN's kernel device, then logout ------------------------------
lvmo sr_create 0
off_session "after sr_create"
pv_label || vmt_fail "no LVM label on the LUN after sr_create"

# --- attach: the kernel session, the PV on its disk -------------------------------------
lvmo sr_attach
S=$(sessions)
[ "$(wc -w <<<"$S")" = 1 ] || vmt_fail "sr_attach: sessions to $IQN: '$S', expected one"
[ "$(refs)" = "$SR_UUID" ] || vmt_fail "sr-ref after sr_attach: '$(refs)'"
DISK=$(lun_disk)
[ -n "$DISK" ] || vmt_fail "no disk for LUN 1 in $S"
[ "$(pvs --noheadings -o vg_name "/dev/$DISK" | tr -d ' ')" = "$VG" ] ||
	vmt_fail "/dev/$DISK (LUN 1 of $S) is not a PV of $VG"
# A refused sr_create of the attached SR gives back nothing it did not take.
out=$(lvmo sr_create 0 2>&1) && vmt_fail "sr_create of the attached SR succeeded"
grep -q '^FAULT ' <<<"$out" || vmt_fail "sr_create of the attached SR: $out"
[ "$(sessions)" = "$S" ] || vmt_fail "the refused sr_create logged out the attached SR's session"
[ "$(refs)" = "$SR_UUID" ] || vmt_fail "the refused sr_create took the attached SR's sr-ref line: '$(refs)'"

# --- a VDI, written and read through its active LV ----------------------------------------
lvmo vdi_create 64M disk-a | tee v1
A=$(member uuid v1)
[ -n "$A" ] || vmt_fail "vdi_create gave no uuid"
DEV=$(attached "$A" true)
vmt_pattern pattern 3
"$VHDTOOL" write "$DEV" $((2 * 1048576)) pattern
"$VHDTOOL" read "$DEV" $((2 * 1048576)) $((3 * 1048576)) | cmp - pattern ||
	vmt_fail "the VHD on $DEV does not read back what was written"
"$VHDTOOL" check "$DEV"
# The LV's extents are on the LUN: its dm table maps the iSCSI disk.
dmsetup deps -o devname "$DM_VG-VHD--${A//-/--}" | grep -q "($DISK)" ||
	vmt_fail "$A's dm node does not map /dev/$DISK: $(dmsetup deps -o devname "$DM_VG-VHD--${A//-/--}")"

# --- snapshot: the same data ---------------------------------------------------------------------
lvmo vdi_deactivate --vdi "$A"
lvmo vdi_detach --vdi "$A"
lvmo vdi_snapshot --vdi "$A" --driver-param type=double | tee s1
SNAP=$(member uuid s1)
[ -n "$SNAP" ] && [ "$SNAP" != "$A" ] || vmt_fail "vdi_snapshot gave no new uuid"
SDEV=$(attached "$SNAP" false)
chain_read "$SDEV" | cmp - pattern || vmt_fail "the snapshot $SNAP does not read the data"
lvmo vdi_deactivate --vdi "$SNAP"
lvmo vdi_detach --vdi "$SNAP"
lvmo sr_scan > scan
for u in "$A" "$SNAP"; do grep -q "<uuid>$u</uuid>" scan || vmt_fail "sr_scan lacks $u"; done

# --- detach: logout, no dm node ------------------------------------------------------------------
lvmo sr_detach
off_session "after sr_detach"
vmt_wait 10 test ! -e "/sys/block/$DISK" || vmt_fail "/dev/$DISK still there after the logout"

# --- attach again: a new session, the data was on the target -------------------------------
lvmo sr_attach
[ -n "$(sessions)" ] || vmt_fail "no session after the second sr_attach"
DEV=$(attached "$A" false)
chain_read "$DEV" | cmp - pattern || vmt_fail "the data did not survive detach and attach"
lvmo vdi_deactivate --vdi "$A"
lvmo vdi_detach --vdi "$A"

# --- delete: logout, VG and PV label gone ----------------------------------------------------------
for u in "$SNAP" "$A"; do lvmo vdi_delete --vdi "$u"; done
lvmo sr_delete
off_session "after sr_delete"
pv_label && vmt_fail "LVM label left on the LUN after sr_delete"
vmt_log "lvmoiscsisr: create, attach, VDI written through its active LV, snapshot, detach, re-attach, delete ok"
