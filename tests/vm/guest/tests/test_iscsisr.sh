#!/bin/bash
# ISCSISR with the guest's kernel initiator: tgtd (vmt_iscsi_target) exports
# two files as LUNs 1 (64 MiB) and 2 (32 MiB); iscsid runs.  sr_create
# (libiscsi only), sr_attach with another localIQN than the host's is 68 (no
# session), sr_attach really logs the host in (iscsiadm) and counts the
# SR in sr-ref, a second SR on the same IQN shares the session, sr_scan,
# vdi_create hands out the 32 MiB LUN, vdi_attach returns its /dev/sdX (found
# through sysfs: no udev here), data written there is in lun2.img, vdi_detach;
# the first sr_detach keeps the session (the other SR), the last logs out and
# deletes the node records; sr_delete.
. "$VMT_REPO/tests/vm/guest/lib.sh"
[ -x "$VMT_BUILD/ISCSISR" ] && [ -x "$VMT_BUILD/smcall" ] ||
	vmt_fail "no ISCSISR or smcall in $VMT_BUILD (make check-vm builds build-test/)"
D=$VMT_BUILD/ISCSISR
SMCALL=$VMT_BUILD/smcall
CONF=$VMT_REPO/examples/dconf/iscsi.conf
IQN=iqn.2024-01.org.example.vmtest:iscsisr
export SM_LOCK_DIR=$VMT_WORK/lock CSM_ISCSI_STATE_DIR=$VMT_WORK/state CSM_SR_REF_DIR=$VMT_WORK/sr-ref
export ISCSI_TARGET=127.0.0.1 ISCSI_PORT=3260 ISCSI_TARGET_IQN=$IQN
# iscsid logs in with the host's initiator name: localIQN must be it.
ISCSI_LOCAL_IQN=$(sed -n 's/^InitiatorName=//p' /etc/iscsi/initiatorname.iscsi)
[ -n "$ISCSI_LOCAL_IQN" ] || vmt_fail "no InitiatorName in /etc/iscsi/initiatorname.iscsi"
export ISCSI_LOCAL_IQN
SR_A=3f1c0d9e-5d2a-4b7e-9c61-0e8a2b4f7a10
SR_B=4a2d1e0f-6e3b-4c8f-8d72-1f9b3c5e8b21
REF=$CSM_SR_REF_DIR/$IQN

truncate -s 64M lun1.img
truncate -s 32M lun2.img
vmt_iscsi_target $IQN "$VMT_WORK/lun1.img" "$VMT_WORK/lun2.img"
vmt_iscsid
# Whatever the test leaves, the host ends logged out with no node records.
vmt_on_exit "iscsiadm -m node -T $IQN --logout >/dev/null 2>&1; iscsiadm -m node -T $IQN -o delete >/dev/null 2>&1; true"

sm() { "$SMCALL" "$D" "$CONF" "$@"; }
session() { iscsiadm -m session 2>/dev/null | grep -q " $IQN\( \|\$\)"; }

sm sr_create 0 --sr $SR_A
session && vmt_fail "sr_create logged the kernel in"
# Another initiator name than the host's: the control path may use it, the
# kernel cannot (the Python SM rewrites the host's file; we do not).
sm sr_attach --sr $SR_A --dconf localIQN=iqn.2024-01.org.example.vmtest:other > other.out 2>&1 &&
	vmt_fail "sr_attach with a localIQN that is not the host's succeeded"
grep -q 'FAULT 68' other.out || vmt_fail "localIQN not the host's: $(cat other.out)"
session && vmt_fail "a refused sr_attach left a session"
[ ! -s "$REF" ] || vmt_fail "a refused sr_attach left $(cat "$REF") in sr-ref"
sm sr_attach --sr $SR_A
session || vmt_fail "sr_attach: no kernel session to $IQN"
grep -qx $SR_A "$REF" || vmt_fail "sr_attach: $SR_A not in $REF"
sm sr_attach --sr $SR_A
[ "$(grep -c . "$REF")" = 1 ] || vmt_fail "a second sr_attach of one SR counted it twice"
sm sr_attach --sr $SR_B
[ "$(sort "$REF" | tr '\n' ' ')" = "$SR_A $SR_B " ] || vmt_fail "sr-ref: $(cat "$REF")"
vmt_log "iscsisr: attach logs the kernel in; two SRs counted in sr-ref"

sm sr_scan --sr $SR_A > scan.xml
[ "$(grep -c '<vdi>' scan.xml)" = 2 ] || vmt_fail "scan: $(cat scan.xml)"
U=$(sm vdi_create --sr $SR_A 20M | sed -n 's/^uuid: //p')
[ -n "$U" ] || vmt_fail "vdi_create gave no uuid"
grep -q "<uuid>$U</uuid>" scan.xml || vmt_fail "vdi_create gave $U, not a scanned LUN"

sm vdi_attach --sr $SR_A --vdi "$U" true > attach.out
DEV=$(sed -n 's/^params: //p' attach.out)
[ -b "$DEV" ] || vmt_fail "vdi_attach: params '$DEV' is not a block device: $(cat attach.out)"
[ "$(blockdev --getsize64 "$DEV")" -eq $((32 * 1048576)) ] || vmt_fail "$DEV is not the 32 MiB LUN"
vmt_pattern pattern 4
dd if=pattern of="$DEV" bs=1M oflag=direct conv=fsync status=none
head -c 4194304 lun2.img | cmp - pattern || vmt_fail "data written to $DEV is not in lun2.img"
sm vdi_detach --sr $SR_A --vdi "$U"
vmt_log "iscsisr: vdi_attach gives $DEV, the LUN's device; data lands in the LUN"

sm sr_detach --sr $SR_A
session || vmt_fail "sr_detach of one of two SRs logged out"
[ "$(cat "$REF")" = $SR_B ] || vmt_fail "sr-ref after the first detach: $(cat "$REF")"
sm sr_detach --sr $SR_B
session && vmt_fail "the last sr_detach did not log out"
iscsiadm -m node -T $IQN >/dev/null 2>&1 && vmt_fail "the last sr_detach left node records"
vmt_wait 10 test ! -b "$DEV"
sm sr_detach --sr $SR_B
sm sr_delete --sr $SR_A
[ ! -e "$CSM_ISCSI_STATE_DIR/$SR_A" ] || vmt_fail "sr_delete left the managed bits"
vmt_log "iscsisr: shared session kept for the other SR, last detach logs out and deletes the nodes; delete ok"
