#!/usr/bin/env bash
# LVMoISCSISR (type "lvmoiscsi") end to end through smcall, against a
# private tgtd on 127.0.0.1 (tests/iscsi/target.sh).  This host has no
# kernel initiator: the LUNs' backing files are also attached as loop
# devices and CSM_ISCSI_DEVICE_MAP (test builds only) maps each SCSIid to
# its loop device, so everything over the data path is LVMSR's real work
# on the LUN's bytes, and everything over the control path is libiscsi
# against tgtd.  LVM as in test_lvmsr.sh: a private configuration,
# activation off.
#
# Checked: the three probe stages byte for byte (IQN list and 96, LUN list
# and 107, the SR list read through libiscsi with no device map at all),
# bad dconf, sr_create (and 47 for a second one), the session reference
# (/run/sr-ref/<IQN> under CSM_SR_REF_DIR) taken by attach and given back
# by detach, delete and every failed attach, VDI create, snapshot, clone,
# resize, delete, scan, generate_config/attach_from_config, the non-master
# refusals, 119 for a VG with a PV on another LUN, a target that hangs or
# is killed mid-call answering 141 in bounded time, and a hung LVM command
# bounded by its deadline.
BUILD=${1:-${BUILD:-build-test}}
export SR_UUID=7b3e2a5d-9c4e-4f6a-8b2c-3d4e5f6a7b81
source "$(dirname "$0")/lib.sh"
set +e   # each check reports itself
need_root "tgtd, loop devices and LVM"
need losetup=mount python3=python3
source "$REPO/tests/iscsi/target.sh"
why=$(iscsi_target_check) || skip "$why"
D="$BUILD/LVMoISCSISR"
C="$REPO/examples/dconf/lvmoiscsi.conf"
LVMT="$BUILD/tests/lvm_lv"
for x in "$D" "$LVMT" "$XAPI_CHECK" "$SMCALL"; do
	[ -x "$x" ] || skip "$x not built (make TEST_BUILD=1 all-tests)"
done

SR2=8c4f3b6e-0d5f-4a7b-9c3d-4e5f6a7b8c92
SCSI1=360000000000000000e00000000010001
SCSI2=3600000000000000000000e0012345678
LOOP="" LOOP2=""
cleanup_all() {
	set +e   # run_raw turns errexit back on; the teardown is best effort
	for sr in "$SR_UUID" "$SR2"; do
		[ -n "$LOOP" ] && "$LVMT" "$LOOP${LOOP2:+,$LOOP2}" vgremove "VG_XenStorage-$sr" >/dev/null 2>&1
	done
	for l in $LOOP $LOOP2; do
		"$LVMT" "$l" pvremove >/dev/null 2>&1
		losetup -d "$l" 2>/dev/null
	done
	iscsi_silent_port_stop
	iscsi_target_stop
	rm -rf "$T"
}
trap cleanup_all EXIT

# LUN 1 holds the SR: 256 MiB (sparse), room for a few VDIs.
export ISCSI_LUN1_SIZE=256M
iscsi_target_start "$T/tgt" || { fail "tgtd did not start"; finish; }
LOOP=$(losetup -f --show "$ISCSI_LUN_DIR/lun1.img" 2>"$T/losetup.err") ||
	skip "no loop device: $(cat "$T/losetup.err")"
LOOP2=$(losetup -f --show "$ISCSI_LUN_DIR/lun2.img" 2>"$T/losetup.err") ||
	skip "no second loop device: $(cat "$T/losetup.err")"

mkdir -p "$T/lvm" "$T/refcount" "$T/sr-ref"
printf 'backup {\n\tbackup = 0\n\tarchive = 0\n}\n' >"$T/lvm/lvm.conf"
printf 'InitiatorName=iqn.2024-01.test.local:from-file\n' >"$T/initiatorname.iscsi"
export LVM_SYSTEM_DIR="$T/lvm" CSM_LVM_ACTIVATION=off SM_REFCOUNT_DIR="$T/refcount" \
	CSM_SR_REF_DIR="$T/sr-ref" CSM_ISCSI_INITIATORNAME_FILE="$T/initiatorname.iscsi"
MAP="$SCSI1=$LOOP,$SCSI2=$LOOP2"
export CSM_ISCSI_DEVICE_MAP=$MAP
# examples/dconf/lvmoiscsi.conf's defaults are this target; the port is the harness's.
export ISCSI_TARGET=127.0.0.1 ISCSI_TARGET_IQN=$ISCSI_IQN_PLAIN ISCSI_SCSIID=$SCSI1 \
	ISCSI_LOCAL_IQN=$ISCSI_INITIATOR
VG="VG_XenStorage-$SR_UUID"
MIB=1048576

expect() { # expect <what> <want> <got>
	if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: want '$2', got '$3'"; fi
}
# expect_text <what> <file with the wanted text> <got, followed by an x>: byte for byte
# (the x keeps the trailing newlines that $(...) would drop).
expect_text() {
	if [ "$(cat "$2"; echo x)" = "$3" ]; then pass "$1"; else
		fail "$1:"$'\n'"$(printf '%s' "${3%x}" | diff "$2" - | head -20)"; fi
}
# expect_stderr <what> <file with the wanted text>: the last call's stderr, byte for byte.
expect_stderr() {
	if cmp -s "$2" "$T/stderr"; then pass "$1"; else
		fail "$1:"$'\n'"$(diff "$2" "$T/stderr" | head -20)"; fi
}
lv_size() { "$LVMT" "$LOOP" lvs "$VG" 2>/dev/null | grep "^$1|" | cut -d'|' -f2; }
# refs <sr uuid> [<target IQN>]: how often the SR is listed in the target's session refcount file.
refs() { local n; n=$(grep -c "^$1\$" "$T/sr-ref/${2:-$ISCSI_IQN_PLAIN}" 2>/dev/null); echo "${n:-0}"; }
lvo() { call "$1" "$D" "$C" "${@:2}"; }
# run_timed <smcall args...>: the call (OUT, ERR, RC), and how long it took (MS).
run_timed() {
	local start req
	req=$("$SMCALL" --print-request "$@")
	start=$(date +%s%N)
	run_raw "$1" "$req"
	MS=$(( ($(date +%s%N) - start) / 1000000 ))
}
# The string the last call answered, exactly (string_result drops the first line's start).
result_text() {
	printf '%s' "$OUT" | python3 -c 'import sys, xmlrpc.client
sys.stdout.write(xmlrpc.client.loads(sys.stdin.read())[0][0])'
}
fault_code() { printf '%s' "$OUT" | sed -n '/faultCode/{n;s/.*<int>\([0-9]*\)<\/int>.*/\1/p;q}'; }

# ---- driver info ------------------------------------------------------------------
call driver_info "$D" "$C" sr_get_driver_info
grep -q '<string>LVHD over iSCSI</string>' <<<"$OUT" && pass "driver info: name" ||
	fail "driver info: name"
for cap in SR_PROBE SR_CREATE SR_ATTACH VDI_SNAPSHOT VDI_CLONE VDI_RESIZE VDI_GENERATE_CONFIG; do
	grep -q "<string>$cap</string>" <<<"$OUT" || fail "driver info: no $cap"
done
grep -q '<string>SCSIid</string>' <<<"$OUT" && pass "driver info: capabilities, SCSIid key" ||
	fail "driver info: no SCSIid key"

# ---- bad dconf: the configuration's faults, nothing logged in ---------------------------
fault 95 "$D" "$C" --dconf target= sr_create 0
fault 142 "$D" "$C" --dconf port=32x60 sr_create 0
fault 20 "$D" "$C" --dconf chappassword_secret=0d7e1f2a-3b4c-4d5e-8f60-718293a4b5c6 sr_attach
fault 107 "$D" "$C" --dconf SCSIid=../../etc/passwd sr_attach
fault 107 "$D" "$C" --dconf SCSIid=360000000000000000e00000000099999 sr_attach
fault 99 "$D" "$C" --dconf SCSIid= --dconf LUNid=1,2 sr_attach
expect "no session reference left by refused calls" 0 "$(refs "$SR_UUID")"

# ---- CHAP: the LUN list through a CHAP login; a wrong secret is 68, and no secret is printed ---------
CHAP=(--dconf "targetIQN=$ISCSI_IQN_CHAP" --dconf "chapuser=$ISCSI_CHAP_USER")
fault 107 "$D" "$C" "${CHAP[@]}" --dconf "chappassword=$ISCSI_CHAP_PASSWORD" --dconf SCSIid= sr_probe
grep -q '<SCSIid>360000000000000000e00000000020001</SCSIid>' "$T/stderr" &&
	pass "CHAP: the LUN list after a CHAP login" || fail "CHAP LUN list: $(cat "$T/stderr")"
fault 68 "$D" "$C" "${CHAP[@]}" --dconf chappassword=wrongsecret99 --dconf SCSIid= sr_probe
fault 47 "$D" "$C" "${CHAP[@]}" --dconf chappassword=wrongsecret99 sr_create 0
grep -q 'ISCSI login failed' <<<"$OUT" && pass "CHAP: sr_create's 47 carries the login fault" ||
	fail "CHAP create: $OUT"
fault 68 "$D" "$C" "${CHAP[@]}" --dconf chappassword=wrongsecret99 sr_attach
grep -q wrongsecret99 "$T/stdout" "$T/stderr" && fail "the CHAP secret was printed" ||
	pass "CHAP: the secret is in no answer and no stderr"
expect "CHAP: no session reference left" 0 "$(refs "$SR_UUID" "$ISCSI_IQN_CHAP")"

# ---- no kernel initiator and no device map: 67 saying so, the session given back -----------------
req=$("$SMCALL" --print-request "$D" "$C" sr_attach)
env -u CSM_ISCSI_DEVICE_MAP PATH=/usr/bin:/bin "$D" "$req" >"$T/nokernel.out" 2>/dev/null
if "$XAPI_CHECK" fault 67 <"$T/nokernel.out" >/dev/null 2>&1 &&
   grep -q 'no kernel iSCSI initiator' "$T/nokernel.out"; then
	pass "no kernel initiator: 67 that says so"
else
	fail "no kernel initiator: $(cat "$T/nokernel.out")"
fi
expect "no session reference left without an initiator" 0 "$(refs "$SR_UUID")"

# ---- sr_probe, stage 1: no targetIQN -> the portal's targets on stderr, 96 --------------
{
	printf '<?xml version="1.0" ?>\n<iscsi-target-iqns>\n'
	i=0
	# In tgtd's sendtargets order (the newest target first), as the Python SM prints it.
	for iqn in "$ISCSI_IQN_MUTUAL" "$ISCSI_IQN_CHAP" "$ISCSI_IQN_PLAIN" '*'; do
		printf '\t<TGT>\n\t\t<Index>%d</Index>\n\t\t<IPAddress>127.0.0.1</IPAddress>\n' $i
		printf '\t\t<Port>%s</Port>\n\t\t<TargetIQN>%s</TargetIQN>\n\t</TGT>\n' "$ISCSI_PORT" "$iqn"
		i=$((i + 1))
	done
	printf '</iscsi-target-iqns>\n\n'
} >"$T/want-iqns"
fault 96 "$D" "$C" --dconf targetIQN= sr_probe
expect_stderr "probe stage 1: the IQN list on stderr, byte for byte" "$T/want-iqns"

# ---- stage 2: no SCSIid -> the target's LUNs on stderr, 107 ----------------------------
cat >"$T/want-luns" <<EOF
<?xml version="1.0" ?>
<iscsi-target>
	<LUN>
		<vendor>IET</vendor>
		<serial>beaf11</serial>
		<LUNid>1</LUNid>
		<size>268435456</size>
		<SCSIid>$SCSI1</SCSIid>
	</LUN>
	<LUN>
		<vendor>IET</vendor>
		<serial>SN0002</serial>
		<LUNid>2</LUNid>
		<size>33554432</size>
		<SCSIid>$SCSI2</SCSIid>
	</LUN>
</iscsi-target>

EOF
fault 107 "$D" "$C" --dconf SCSIid= sr_probe
expect_stderr "probe stage 2: the LUN list on stderr, byte for byte" "$T/want-luns"
fault 107 "$D" "$C" --dconf SCSIid= sr_attach
expect_stderr "sr_attach without SCSIid: the same LUN list" "$T/want-luns"

# ---- stage 3 on a blank LUN: no SR ---------------------------------------------------------
printf '<?xml version="1.0" ?>\n<SRlist/>\n' >"$T/want-none"
CSM_ISCSI_DEVICE_MAP='' lvo string sr_probe
expect_text "probe stage 3 on a blank LUN: <SRlist/>" "$T/want-none" "$(result_text; echo x)"

# ---- sr_create ----------------------------------------------------------------------------------
fault 58 "$D" "$C" --slave sr_create 0
lvo unit sr_create 0 && pass "sr_create"
expect "MGT of 4 MiB on the LUN" $((4 * MIB)) "$(lv_size MGT)"
expect "sr_create gave the session back" 0 "$(refs "$SR_UUID")"
fault 47 "$D" "$C" sr_create 0
grep -q 'already exists' <<<"$OUT" && pass "second create: 47 with the inner fault" ||
	fail "second create's detail: $OUT"

# ---- stage 3: the SR read through libiscsi (no device map: no host device at all) ----------------
VGSIZE=$("$LVMT" "$LOOP" vgs "$VG" 2>/dev/null | cut -d' ' -f1)
cat >"$T/want-srlist" <<EOF
<?xml version="1.0" ?>
<SRlist>
	<SR>
		<UUID>$SR_UUID</UUID>
		<Devlist>/dev/disk/by-id/scsi-$SCSI1</Devlist>
		<size>$VGSIZE</size>
	</SR>
</SRlist>
EOF
CSM_ISCSI_DEVICE_MAP='' lvo string sr_probe
expect_text "probe stage 3: the SR list through libiscsi, byte for byte" "$T/want-srlist" \
	"$(result_text; echo x)"
# The fallback when the label cannot be read that way: log in, LVMSR's probe, log out.
cat >"$T/want-srlist-login" <<EOF
<?xml version="1.0" ?>
<SRlist>
	<SR>
		<UUID>$SR_UUID</UUID>
		<Devlist>$LOOP</Devlist>
		<size>$VGSIZE</size>
	</SR>
</SRlist>
EOF
CSM_LVMOISCSI_PROBE_BY_LOGIN=1 lvo string sr_probe
expect_text "probe stage 3 by login (the fallback): LVMSR's SR list" "$T/want-srlist-login" \
	"$(result_text; echo x)"
expect "the probe's login left no session reference" 0 \
	"$(cat "$T/sr-ref/$ISCSI_IQN_PLAIN" 2>/dev/null | grep -c . || true)"
CSM_ISCSI_DEVICE_MAP='' lvo string sr_probe --dconf "SCSIid=$SCSI2"
expect_text "probe stage 3 of the other LUN: <SRlist/>" "$T/want-none" "$(result_text; echo x)"

# ---- sr_attach ------------------------------------------------------------------------------------
lvo unit sr_attach && pass "sr_attach"
expect "sr_attach holds a session reference" 1 "$(refs "$SR_UUID")"
lvo unit sr_attach
expect "a second sr_attach holds it once" 1 "$(refs "$SR_UUID")"
call unit "$D" "$C" --slave sr_attach && pass "a non-master attaches (no repair, no metadata change)"

# ---- VDIs: LVMSR's work on the LUN ------------------------------------------------------------
A=aaaaaaaa-2222-4000-8000-000000000001
B=bbbbbbbb-2222-4000-8000-000000000002
lvo vdi_info vdi_create --vdi "$A" 20M disk-a
expect "thick 20 MiB VHD: LV of 28 MiB (A.4)" $((28 * MIB)) "$(lv_size "VHD-$A")"
lvo vdi_info vdi_create --vdi "$B" --dconf allocation=thin 100M disk-b
expect "thin 100 MiB VHD: LV of 8 MiB" $((8 * MIB)) "$(lv_size "VHD-$B")"
fault 58 "$D" "$C" --slave vdi_create --vdi cccccccc-2222-4000-8000-000000000003 10M
lvo vdi_info vdi_snapshot --vdi "$A" --driver-param type=double
S=$(member uuid)
[ -n "$S" ] && [ -n "$(lv_size "VHD-$S")" ] && pass "snapshot: an LV for $S" || fail "snapshot: no LV"
lvo vdi_info vdi_clone --vdi "$A"
K=$(member uuid)
[ -n "$K" ] && [ -n "$(lv_size "VHD-$K")" ] && pass "clone: an LV for $K" || fail "clone: no LV"
lvo vdi_info vdi_resize --vdi "$A" 40M
expect "resize: thick LV of 48 MiB (A.4)" $((48 * MIB)) "$(lv_size "VHD-$A")"
lvo attach vdi_attach --vdi "$A" true
expect "vdi_attach answers the LV's path" "/dev/$VG/VHD-$A" "$(member params)"
lvo unit vdi_detach --vdi "$A"
lvo string sr_scan
SCAN=$(string_result)
for u in "$A" "$B" "$S" "$K"; do
	grep -q "<uuid>$u</uuid>" <<<"$SCAN" || fail "sr_scan does not list $u"
done
pass "sr_scan lists the VDIs"
lvo unit vdi_delete --vdi "$K"
[ -z "$(lv_size "VHD-$K")" ] && pass "vdi_delete removed the clone's LV" || fail "clone's LV left"

# ---- generate_config / attach_from_config (initiator name from the host's file) ------------------
lvo string vdi_generate_config --vdi "$B" --dconf localIQN=
CONFIG=$(string_result)
grep -q 'iqn.2024-01.test.local:from-file' <<<"$CONFIG" &&
	pass "generate_config carries the host's initiator name" || fail "config: $CONFIG"
grep -q "<name>SCSIid</name>" <<<"$CONFIG" && pass "generate_config carries SCSIid" ||
	fail "config without SCSIid"
lvo unit sr_detach
expect "sr_detach gave the session back" 0 "$(refs "$SR_UUID")"
run_raw "$D" "$CONFIG"
printf '%s' "$OUT" | "$XAPI_CHECK" attach >/dev/null 2>&1 && pass "attach_from_config replays the config" ||
	fail "attach_from_config: $OUT $ERR"
expect "attach_from_config holds the session" 1 "$(refs "$SR_UUID")"
lvo unit vdi_detach_from_config --vdi "$B"
lvo unit sr_attach

# ---- a hung LVM command is bounded; the failed attach gives the session back -------------------
lvo unit sr_detach
if CSM_FAULT_LOG="$T/points" "$LVMT" "$LOOP" vgs "$VG" >/dev/null 2>&1 && [ -s "$T/points" ]; then
	CSM_FAULT_PAUSE=lvm-vgs CSM_FAULT_PAUSE_MS=60000 CSM_LVM_TIMEOUT_MS=1000 \
		run_timed "$D" "$C" sr_attach
	grep -q faultCode <<<"$OUT" && [ "$MS" -le 8000 ] &&
		pass "sr_attach with a hung LVM command: fault $(fault_code) in $MS ms" ||
		fail "hung LVM command: $MS ms: $OUT"
	expect "the failed attach gave the session back" 0 "$(refs "$SR_UUID")"
else
	skip_part "hung LVM command: no fault points (build with TEST_BUILD=1)"
fi

# ---- sr_delete on the attached SR (as xapi calls it) ------------------------------------------
lvo unit sr_attach
for u in "$A" "$B" "$S"; do lvo unit vdi_delete --vdi "$u"; done
fault 58 "$D" "$C" --slave sr_delete
lvo unit sr_delete && pass "sr_delete"
expect "sr_delete gave the session back" 0 "$(refs "$SR_UUID")"
expect "the VG is gone" absent "$("$LVMT" "$LOOP" vgs "$VG" 2>/dev/null)"

# ---- 119: the SR's VG has a PV on another LUN --------------------------------------------------
export ISCSI_SCSIID=$SCSI2
call unit "$D" "$C" --sr "$SR2" sr_create 0 && pass "sr_create on LUN 2"
"$LVMT" "$LOOP" pvcreate >/dev/null 2>&1 &&
	"$LVMT" "$LOOP2,$LOOP" vgextend "VG_XenStorage-$SR2" "$LOOP" >/dev/null 2>&1 ||
	fail "cannot extend the VG onto LUN 1"
fault 119 "$D" "$C" --sr "$SR2" sr_attach
expect "the refused attach gave the session back" 0 "$(refs "$SR2")"
"$LVMT" "$LOOP2,$LOOP" vgremove "VG_XenStorage-$SR2" >/dev/null 2>&1
"$LVMT" "$LOOP2,$LOOP" pvremove >/dev/null 2>&1
export ISCSI_SCSIID=$SCSI1

# ---- a target that hangs, or dies mid-call: 141 in bounded time, never a hung driver ------------
iscsi_silent_port_start || fail "no silent port"
run_timed "$D" "$C" --dconf "port=$ISCSI_SILENT_PORT" sr_attach
[ "$(fault_code)" = 141 ] && [ "$MS" -le 20000 ] && pass "a silent portal: 141 in $MS ms" ||
	fail "silent portal: $MS ms: $OUT"
iscsi_silent_port_stop
iscsi_target_freeze
run_timed "$D" "$C" sr_attach
[ "$(fault_code)" = 141 ] && pass "a hung target: 141 in $MS ms" || fail "hung target: $MS ms: $OUT"
# Killed while the driver waits for its answer: the connection breaks, 141 at once.
req=$("$SMCALL" --print-request "$D" "$C" --dconf SCSIid= sr_probe)
start=$(date +%s%N)
( "$D" "$req" >"$T/mid.out" 2>/dev/null ) &
drv=$!
sleep 1
iscsi_target_kill
wait "$drv"
MS=$(( ($(date +%s%N) - start) / 1000000 ))
OUT=$(cat "$T/mid.out")
[ "$(fault_code)" = 141 ] && [ "$MS" -le 6000 ] && pass "a target killed mid-call: 141 in $MS ms" ||
	fail "target killed mid-call: $MS ms: $OUT"
run_timed "$D" "$C" --dconf targetIQN= sr_probe
[ "$(fault_code)" = 141 ] && pass "a dead portal: 141 in $MS ms" || fail "dead portal: $MS ms: $OUT"
grep -q 'refused' <<<"$OUT" && pass "the fault says the connection was refused" ||
	fail "dead portal's detail: $OUT"
expect "no session reference left" 0 "$(refs "$SR_UUID")"

finish
