#!/usr/bin/env bash
# EXTSR on this machine, whose kernel has loop devices and ext4 but no
# device-mapper: everything that needs no LV activation. Driver info, dconf
# checks, and sr_create refusing devices that hold something (an ext4 file
# system, a mounted one, an LVM PV, another VG, this SR's VG), with the
# refused device left byte for byte as it was; sr_probe finding an SR's VG;
# a create that fails at lvcreate rolling back to a blank device. The whole
# lifecycle (activation, fsck, mount, VDIs) runs in the VM:
# tests/vm/guest/tests/test_extsr.sh; fsck, mount and the VDIs (API and
# xapi mode) also here, through a loop device over the LV's extents:
# test_xapi_extsr.sh.
source "$(dirname "$0")/lib.sh"
D="$BUILD/EXTSR"
C="$REPO/examples/dconf/ext.conf"
export CSM_LVM_BACKUP=off
need_root "loop devices, mount, LVM"
need losetup=mount truncate=coreutils mkfs.ext4=e2fsprogs blkid=util-linux mount=mount \
	pvcreate=lvm2 vgcreate=lvm2 vgs=lvm2 vgremove=lvm2 pvremove=lvm2

# Loop devices are this test's storage: no loop device is a failure, not a skip.
LOOPS=()
MNT=
ext_cleanup() {
	[ -z "$MNT" ] || umount "$MNT" 2>/dev/null || true
	for l in "${LOOPS[@]}"; do losetup -d "$l" 2>/dev/null || true; done
	cleanup
}
trap ext_cleanup EXIT
# new_loop NAME SIZE: a sparse file in $T on a loop device; sets LOOP.
new_loop() {
	truncate -s "$2" "$T/$1.img"
	LOOP=$(losetup -f --show "$T/$1.img" 2>"$T/losetup.err") || {
		fail "no loop device for $1: $(cat "$T/losetup.err") (this test needs losetup, as root)"
		finish
	}
	LOOPS+=("$LOOP")
}
# LVM commands of the test itself see only its loop devices and write no backups.
lvm_cfg() {
	local f="" d
	for d in "${LOOPS[@]}"; do f="$f\"a|^$d\$|\","; done
	echo "devices{filter=[$f\"r|.*|\"] global_filter=[$f\"r|.*|\"] use_devicesfile=0} backup{backup=0 archive=0}"
}

call driver_info "$D" none sr_get_driver_info && pass "sr_get_driver_info"
grep -q '<value><string>Local EXT3 VHD</string></value>' <<<"$OUT" || fail "driver name"
grep -q 'local device path (required) (e.g. /dev/sda3)' <<<"$OUT" || fail "device key description"
for cap in SR_PROBE SR_UPDATE VDI_CREATE VDI_DELETE VDI_ATTACH VDI_DETACH VDI_UPDATE VDI_CLONE \
	   VDI_SNAPSHOT VDI_RESIZE VDI_GENERATE_CONFIG VDI_ACTIVATE VDI_DEACTIVATE THIN_PROVISIONING; do
	grep -q "<value><string>$cap</string></value>" <<<"$OUT" || fail "driver info lacks $cap"
done

# --- dconf ------------------------------------------------------------------
fault 90 "$D" none sr_create 0 && pass "missing device is 90 (sr_create)"
fault 90 "$D" none sr_probe && pass "missing device is 90 (sr_probe)"
fault 90 "$D" none sr_attach --dconf device= && pass "empty device is 90"
fault 91 "$D" none sr_create 0 --dconf device=dev/loop0 && pass "relative path is 91"
fault 91 "$D" none sr_create 0 --dconf device=/etc/hostname && pass "non-block device is 91"
fault 91 "$D" none sr_attach --dconf device=/dev/no-such-disk && pass "missing device node is 91"
fault 91 "$D" none sr_create 0 --dconf "device=/dev/loop0 ;x" && pass "odd characters are 91"

new_loop fs 64M; FS=$LOOP
new_loop blank 64M; BLANK=$LOOP
fault 91 "$D" none sr_create 0 --dconf "device=$FS,,$BLANK" && pass "empty list entry is 91"
fault 91 "$D" none sr_create 0 --dconf "device=$FS,$FS" && pass "the same device twice is 91"

# --- refusals -----------------------------------------------------------------
mkfs.ext4 -q -F "$FS"
BEFORE=$(sha1sum <"$FS")
fault 56 "$D" none sr_create 0 --dconf "device=$FS" && pass "a device holding ext4 is refused (56)"
grep -q 'ext4' <<<"$OUT" || fail "the fault does not say what the device holds: $OUT"
fault 56 "$D" none sr_create 0 --dconf "device=$BLANK,$FS" && pass "one ext4 device among two is refused"
[ "$(sha1sum <"$FS")" = "$BEFORE" ] && pass "nothing written to the refused device" ||
	fail "the refused device changed"
[ -z "$(blkid -p "$BLANK" 2>/dev/null)" ] || fail "the blank device of the refused pair was written"

MNT=$T/fsmnt; mkdir -p "$MNT"
if mount -t ext4 "$FS" "$MNT" 2>"$T/mount.err"; then
	fault 16 "$D" none sr_create 0 --dconf "device=$FS" && pass "a mounted device is refused (16)"
	grep -q "mounted at $MNT" <<<"$OUT" || fail "the fault does not say where it is mounted: $OUT"
	umount "$MNT"
else
	fail "cannot mount ext4 from $FS: $(cat "$T/mount.err")"
fi
MNT=

new_loop pv 64M; PV=$LOOP
pvcreate -q -y --config "$(lvm_cfg)" "$PV" >/dev/null 2>"$T/pv.err" || fail "pvcreate: $(cat "$T/pv.err")"
fault 56 "$D" none sr_create 0 --dconf "device=$PV" && pass "an LVM PV is refused (56)"
vgcreate -q --config "$(lvm_cfg)" vg_other "$PV" >/dev/null 2>"$T/vg.err" || fail "vgcreate: $(cat "$T/vg.err")"
fault 56 "$D" none sr_create 0 --dconf "device=$PV" && grep -q 'vg_other' <<<"$OUT" &&
	pass "a PV of another VG is refused naming it"
fault 47 "$D" none sr_attach --dconf "device=$PV" && pass "sr_attach without the SR's VG is 47"
vgremove -q -f --config "$(lvm_cfg)" vg_other >/dev/null 2>&1

# This SR's own VG (as the Python SM makes it): probe finds it, create refuses it.
vgcreate -q --config "$(lvm_cfg)" "XSLocalEXT-$SR_UUID" "$PV" >/dev/null 2>"$T/vg.err" ||
	fail "vgcreate: $(cat "$T/vg.err")"
call string "$D" none sr_probe --dconf "device=$PV,$BLANK" && pass "sr_probe"
P=$(string_result)
grep -q "<UUID>$SR_UUID</UUID>" <<<"$P" && grep -q "<Devlist>$PV</Devlist>" <<<"$P" &&
	grep -Eq '<size>[0-9]+</size>' <<<"$P" && pass "sr_probe lists the SR, its device and size" ||
	fail "sr_probe: $P"
printf '%s' "$P" | grep -q $'^\t<SR>$' || fail "sr_probe is not tab-indented like minidom: $P"
fault 42 "$D" none sr_create 0 --dconf "device=$PV" && pass "the SR's own VG is SRExists (42)"
fault 47 "$D" none sr_scan --dconf "device=$PV" && pass "sr_scan of a detached SR is 47"
fault 47 "$D" none vdi_create --dconf "device=$PV" 10M && pass "vdi_create on a detached SR is 47"
vgremove -q -f --config "$(lvm_cfg)" "XSLocalEXT-$SR_UUID" >/dev/null 2>&1
pvremove -q -y --config "$(lvm_cfg)" "$PV" >/dev/null 2>&1

call string "$D" none sr_probe --dconf "device=$FS" && grep -q '&lt;SRlist/&gt;' <<<"$OUT" &&
	pass "sr_probe of a device with no SR is an empty list"
# Device paths of the longest length the dconf check allows (512): LVM's
# device filter holds two of them; two whose every '.' the filter escapes
# as "[.]" do not fit (they overflowed a stack buffer once) and are refused
# saying why.
# long_link TARGET CHAR N: a symlink to TARGET at a 512-character path whose
# two names under $T are CHAR repeated (N tells such paths apart); sets LINK.
long_link() {
	local dir
	dir="$T/$(printf "%0$((250 - $3))d" 0 | tr 0 "$2")"
	mkdir -p "$dir"
	LINK="$dir/$(printf "%0$((512 - ${#dir} - 1))d" 0 | tr 0 "$2")"
	ln -s "$1" "$LINK"
	[ ${#LINK} -eq 512 ] || fail "long_link made a path of ${#LINK} characters"
}
long_link "$BLANK" x 1; L1=$LINK
long_link "$FS" x 2; L2=$LINK
call string "$D" none sr_probe --dconf "device=$L1,$L2" && grep -q '&lt;SRlist/&gt;' <<<"$OUT" &&
	pass "sr_probe with two 512-character device paths"
long_link "$BLANK" . 1; L1=$LINK
long_link "$FS" . 2; L2=$LINK
if fault 202 "$D" none sr_probe --dconf "device=$L1,$L2"; then
	grep -q "do not fit in LVM's device filter" <<<"$OUT" &&
		pass "two 512-character paths of dots do not fit LVM's filter: 202 saying why" ||
		fail "the refusal does not say why: $OUT"
fi
call unit "$D" none sr_detach --dconf "device=$BLANK" && pass "sr_detach of an absent SR is a no-op"
call unit "$D" none sr_delete --dconf "device=$BLANK" && pass "sr_delete of an absent SR is a no-op"

# --- rollback -----------------------------------------------------------------
# Without device-mapper, lvcreate fails after pvcreate and vgcreate succeeded.
if [ ! -e /dev/mapper/control ] || ! dmsetup version >/dev/null 2>&1; then
	fault 50 "$D" none sr_create 0 --dconf "device=$BLANK" && pass "lvcreate failure is 50"
	grep -q 'device-mapper' <<<"$OUT" || fail "LVM's own error lines are not in the fault: $OUT"
	[ -z "$(blkid -p "$BLANK" 2>/dev/null)" ] && pass "failed create rolled back (no PV label left)" ||
		fail "failed create left: $(blkid -p "$BLANK")"
	vgs --config "$(lvm_cfg)" "XSLocalEXT-$SR_UUID" >/dev/null 2>&1 && fail "VG left behind"
else
	pass "device-mapper present: create on a blank device is tested in the VM"
fi
finish
