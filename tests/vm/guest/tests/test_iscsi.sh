#!/bin/bash
# Kernel path: the iSCSI initiator. tgtd in the guest exports a file as a LUN;
# iscsiadm discovers the target (sendtargets) and logs in, the kernel creates
# /dev/sdX, and data written there lands in the target's backing file.
. "$VMT_REPO/tests/vm/guest/lib.sh"
IQN=iqn.2024-01.org.example.vmtest:target1
truncate -s 64M lun1.img
vmt_iscsi_target $IQN "$VMT_WORK/lun1.img"
vmt_iscsid

iscsiadm -m discovery -t sendtargets -p 127.0.0.1:3260 | tee discovery
grep -q " $IQN\$" discovery || vmt_fail "target $IQN not discovered"
vmt_on_exit "iscsiadm -m node -T $IQN -p 127.0.0.1:3260 -o delete"
iscsiadm -m node -T $IQN -p 127.0.0.1:3260 --login
vmt_on_exit "iscsiadm -m node -T $IQN -p 127.0.0.1:3260 --logout >/dev/null 2>&1 || true"
vmt_wait 30 vmt_iscsi_disks
DEV=/dev/$(vmt_iscsi_disks | head -1)
vmt_wait 10 test -b "$DEV"
iscsiadm -m session
echo "disk: $DEV $(cat /sys/block/${DEV#/dev/}/device/vendor) $(cat /sys/block/${DEV#/dev/}/device/model)"
[ "$(blockdev --getsize64 "$DEV")" -eq $((64 * 1048576)) ] || vmt_fail "$DEV has the wrong size"

vmt_pattern pattern 4
dd if=pattern of="$DEV" bs=1M oflag=direct conv=fsync status=none
dd if="$DEV" bs=1M count=4 iflag=direct status=none | cmp - pattern
iscsiadm -m node -T $IQN -p 127.0.0.1:3260 --logout
vmt_wait 10 test ! -b "$DEV"
head -c 4194304 lun1.img | cmp - pattern
vmt_log "iscsi: discovery, login, read/write of $DEV, logout ok"
