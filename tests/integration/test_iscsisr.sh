#!/usr/bin/env bash
# ISCSISR against a private tgtd (tests/iscsi/target.sh): a plain target
# with two LUNs, a CHAP target, a mutual-CHAP target.  Every sr_probe
# stage byte for byte (the IQN list on stderr), scan, vdi_create /
# delete / introduce and the managed bits, attach and detach on a host
# without a kernel initiator, every fault class (refused and silent
# ports, wrong secret on either side, unknown IQN, bad port, missing
# target, *_secret, a target that freezes or dies mid-call: each a fault
# within the bound), bad input, and no password anywhere in stdout,
# stderr or the log.
source "$(dirname "$0")/lib.sh"
D="$BUILD/ISCSISR"
C="$REPO/examples/dconf/iscsi.conf"
need_root "tgtd"
source "$REPO/tests/iscsi/target.sh"
why=$(iscsi_target_check) || skip "$why"
[ -x "$D" ] || skip "$D not built"
# This is the host without a kernel initiator (tests/vm/guest/tests/test_iscsisr.sh
# has one): the driver runs with an empty PATH directory, so it finds no
# iscsiadm and a development machine with open-iscsi behaves as the CI host
# (no kernel session is made); without one it runs nothing else.
HIDE_PATH=$T/no-iscsiadm
mkdir -p "$HIDE_PATH"
printf '#!/bin/sh\nPATH=%s exec "%s" "$@"\n' "$HIDE_PATH" "$D" >"$T/ISCSISR"
chmod +x "$T/ISCSISR"
D="$T/ISCSISR"

# The harness's stop functions wait for what they kill (status 137): not under set -e.
trap 'iscsi_silent_port_stop || true; iscsi_target_stop || true; rm -rf "$T"' EXIT
iscsi_target_start "$T/tgt" || { fail "the test target did not start"; finish; }

export ISCSI_TARGET=127.0.0.1 ISCSI_TARGET_IQN=$ISCSI_IQN_PLAIN ISCSI_LOCAL_IQN=$ISCSI_INITIATOR
export ISCSI_TIMEOUT=3 BOUND_MS=6000
export CSM_ISCSI_STATE_DIR="$T/state" CSM_SR_REF_DIR="$T/sr-ref"
STATE="$CSM_ISCSI_STATE_DIR/$SR_UUID"
# The tgt LUNs' identities (tests/iscsi/target.sh), and their VDI uuids:
# md5 of the SCSIid, as scsiutil.gen_uuid_from_string (block-family.md §C.3).
SCSI1=360000000000000000e00000000010001 U1=cc26187c-5707-6d73-0070-e541a4ac88c7   # 64 MiB
SCSI2=3600000000000000000000e0012345678 U2=c558df94-29df-583e-f0fb-e552d2913125   # 32 MiB
SCSIC=360000000000000000e00000000020001
UC=$(printf %s "$SCSIC" | md5sum | sed 's/^\(........\)\(....\)\(....\)\(....\)\(............\).*/\1-\2-\3-\4-\5/')
[ "$(printf %s "$SCSI1" | md5sum | cut -c1-8)" = "${U1%%-*}" ] || fail "the md5 rule of this test is wrong"

# The string result of the last call, byte for byte (Python's own XML-RPC decoder).
result_string() {
	printf '%s' "$OUT" | python3 -c 'import sys, xmlrpc.client; sys.stdout.write(xmlrpc.client.loads(sys.stdin.read())[0][0])'
}
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
opterr() { # the [opterr=...] of the last fault, on one line
	printf '%s' "$OUT" | python3 -c '
import sys, xmlrpc.client
try:
    xmlrpc.client.loads(sys.stdin.read())
except xmlrpc.client.Fault as f:
    i = f.faultString.find("[opterr=")
    print(f.faultString[i + 8:-1].replace("\n", " ") if i >= 0 else "")'
}

# The IQN list exactly as the Python SM prints it (minidom toprettyxml,
# then print: one more newline); <Port> because the port is not 3260;
# the targets in the order sendtargets gives them (tgtd: newest first),
# then the wildcard entry, the target as dconf gives it.
iqn_list() {
	local i=0 iqn
	printf '<?xml version="1.0" ?>\n<iscsi-target-iqns>\n'
	for iqn in "$ISCSI_IQN_MUTUAL" "$ISCSI_IQN_CHAP" "$ISCSI_IQN_PLAIN" '*'; do
		printf '\t<TGT>\n\t\t<Index>%d</Index>\n\t\t<IPAddress>127.0.0.1</IPAddress>\n' $i
		printf '\t\t<Port>%s</Port>\n\t\t<TargetIQN>%s</TargetIQN>\n\t</TGT>\n' "$ISCSI_PORT" "$iqn"
		i=$((i + 1))
	done
	printf '</iscsi-target-iqns>\n\n'
}
EXPECT_IQNS="$T/iqns.expected"
iqn_list >"$EXPECT_IQNS"

# --- driver info ---------------------------------------------------------------
call driver_info "$D" none sr_get_driver_info &&
	grep -A1 '<name>name</name>' <<<"$OUT" | grep -q '<value><string>iSCSI</string></value>' || fail "driver name"
for cap in SR_PROBE VDI_CREATE VDI_DELETE VDI_ATTACH VDI_DETACH VDI_INTRODUCE; do
	grep -q "<value><string>$cap</string></value>" <<<"$OUT" || fail "capability $cap missing"
done
for cap in VDI_SNAPSHOT VDI_CLONE VDI_RESIZE THIN_PROVISIONING; do
	! grep -q "<string>$cap</string>" <<<"$OUT" || fail "capability $cap advertised"
done
pass "driver info: iSCSI, RawISCSISR's capabilities"

# --- sr_probe, stage by stage ---------------------------------------------------------
fault 96 "$D" "$C" sr_probe --dconf targetIQN= &&
	cmp -s "$T/stderr" "$EXPECT_IQNS" && pass "no targetIQN: the IQN list on stderr byte for byte, 96" ||
	fail "probe without targetIQN: stderr differs:"$'\n'"$(diff "$EXPECT_IQNS" "$T/stderr")"
fault 96 "$D" "$C" sr_scan --dconf targetIQN= &&
	cmp -s "$T/stderr" "$EXPECT_IQNS" && pass "no targetIQN on another command: the list, 96 (BaseISCSI.load)" ||
	fail "scan without targetIQN"
fault 83 "$D" "$C" sr_probe --dconf targetIQN=iqn.2024-01.test.local:nosuch &&
	cmp -s "$T/stderr" "$EXPECT_IQNS" && pass "unknown IQN: the list on stderr, 83 ($(opterr))" ||
	fail "probe of an unknown IQN:"$'\n'"$(diff "$EXPECT_IQNS" "$T/stderr")"
fault 83 "$D" "$C" sr_attach --dconf targetIQN=iqn.2024-01.test.local:nosuch &&
	cmp -s "$T/stderr" "$EXPECT_IQNS" && pass "attach of an unknown IQN: the list, 83" || fail "attach of an unknown IQN"
call string "$D" "$C" sr_probe && result_string >"$T/probe.xml" &&
	[ "$(od -c "$T/probe.xml")" = "$(printf '<?xml version="1.0" ?>\n<SRlist/>\n' | od -c)" ] && [ ! -s "$T/stderr" ] &&
	pass "with targetIQN: login checked, <SRlist/>" || fail "probe with targetIQN: $(cat "$T/probe.xml")"
# The wildcard entry names the target as given, whatever it is.
fault 96 "$D" "$C" sr_probe --dconf targetIQN= --dconf target=127.0.0.1,10.0.0.1 &&
	grep -q '<IPAddress>127.0.0.1,10.0.0.1</IPAddress>' "$T/stderr" &&
	[ "$(grep -c '<IPAddress>127.0.0.1</IPAddress>' "$T/stderr")" = 3 ] &&
	pass "a comma list: the first element is probed, the wildcard keeps the list" || fail "comma target list"

# --- CHAP -----------------------------------------------------------------------------
CHAP=(--dconf "targetIQN=$ISCSI_IQN_CHAP" --dconf "chapuser=$ISCSI_CHAP_USER")
MUTUAL=(--dconf "targetIQN=$ISCSI_IQN_MUTUAL" --dconf "chapuser=$ISCSI_MUTUAL_USER"
	--dconf "chappassword=$ISCSI_MUTUAL_PASSWORD" --dconf "incoming_chapuser=$ISCSI_TARGET_USER")
fault 68 "$D" "$C" sr_probe --dconf "targetIQN=$ISCSI_IQN_CHAP" && pass "CHAP target without credentials: 68 ($(opterr))"
call string "$D" "$C" sr_probe "${CHAP[@]}" --dconf "chappassword=$ISCSI_CHAP_PASSWORD" && pass "CHAP: probe logs in"
fault 68 "$D" "$C" sr_probe "${CHAP[@]}" --dconf chappassword=wrongsecret99 && pass "wrong CHAP secret: 68 ($(opterr))"
fault 68 "$D" "$C" sr_attach "${CHAP[@]}" --dconf chappassword=wrongsecret99 && pass "wrong CHAP secret at attach: 68"
call string "$D" "$C" sr_probe "${MUTUAL[@]}" --dconf "incoming_chappassword=$ISCSI_TARGET_PASSWORD" &&
	pass "mutual CHAP: probe logs in and checks the target"
fault 68 "$D" "$C" sr_probe "${MUTUAL[@]}" --dconf incoming_chappassword=wrongtarget99 &&
	pass "wrong mutual (target's) secret: 68 ($(opterr))"
fault 68 "$D" "$C" sr_probe "${MUTUAL[@]/$ISCSI_MUTUAL_PASSWORD/wrongsecret99}" \
	--dconf "incoming_chappassword=$ISCSI_TARGET_PASSWORD" && pass "wrong secret of ours on the mutual target: 68"
call string "$D" "$C" sr_scan "${CHAP[@]}" --dconf "chappassword=$ISCSI_CHAP_PASSWORD" &&
	grep -q "&lt;uuid&gt;$UC&lt;/uuid&gt;" <<<"$OUT" && pass "scan of the CHAP target: its LUN ($UC)" ||
	fail "scan of the CHAP target"

# --- dconf faults ---------------------------------------------------------------------------
fault 95 "$D" none sr_probe && pass "no target: 95"
fault 95 "$D" "$C" sr_scan --dconf target= && pass "empty target: 95"
for p in abc 0 65536 -1 ' 3260' 3260x 99999999999; do
	fault 142 "$D" "$C" sr_probe --dconf "port=$p" || fail "port '$p'"
done
pass "bad port strings: 142"
fault 140 "$D" "$C" sr_probe --dconf target=no-such-host.invalid && pass "a name that does not resolve: 140"
fault 20 "$D" "$C" sr_probe --dconf chappassword_secret=OpaqueRef:x --dconf chapuser=u && pass "chappassword_secret: 20 ($(opterr))"
fault 20 "$D" "$C" sr_attach --dconf incoming_chappassword_secret=x --dconf incoming_chapuser=u && pass "incoming_chappassword_secret: 20"
fault 1 "$D" "$C" sr_probe --dconf chapuser=u && pass "chapuser without chappassword: 1"
fault 1 "$D" "$C" sr_probe --dconf incoming_chappassword=p && pass "incoming_chappassword without its user: 1"
CSM_ISCSI_INITIATORNAME_FILE="$T/none" fault 97 "$D" "$C" sr_probe --dconf localIQN= && pass "no localIQN, no initiatorname file: 97"
printf '## comment\nInitiatorName=%s\n' "$ISCSI_INITIATOR" >"$T/initiatorname.iscsi"
CSM_ISCSI_INITIATORNAME_FILE="$T/initiatorname.iscsi" call string "$D" "$C" sr_probe --dconf localIQN= &&
	pass "localIQN from the host's initiatorname file"
fault 1 "$D" "$C" sr_probe --dconf iscsi-timeout=0 && fault 1 "$D" "$C" sr_probe --dconf iscsi-timeout=x &&
	pass "bad iscsi-timeout: 1"

# --- portals that do not answer: a fault within the bound -------------------------------------
expect_bounded() { # <code> <what> <smcall args...>
	local code=$1 what=$2 start ms; shift 2
	start=$(date +%s%N)
	fault "$code" "$D" "$C" "$@" || { fail "$what"; return 0; }
	ms=$(ms_since "$start")
	[ "$ms" -lt "$BOUND_MS" ] && pass "$what: $code in $ms ms ($(opterr | cut -c1-100))" ||
		fail "$what took $ms ms"
}
FREE=$(iscsi_free_port)
expect_bounded 141 "refused port, probe" sr_probe --dconf "port=$FREE"
expect_bounded 141 "refused port, attach" sr_attach --dconf "port=$FREE"
expect_bounded 141 "refused port, scan" sr_scan --dconf "port=$FREE"
expect_bounded 141 "refused port, no targetIQN" sr_probe --dconf "port=$FREE" --dconf targetIQN=
if iscsi_silent_port_start; then
	expect_bounded 141 "silent port, probe" sr_probe --dconf "port=$ISCSI_SILENT_PORT"
	expect_bounded 141 "silent port, scan" sr_scan --dconf "port=$ISCSI_SILENT_PORT"
	iscsi_silent_port_stop || true
else
	fail "the silent port did not start"
fi

# --- lifecycle -------------------------------------------------------------------------------
scan_doc() { call string "$D" "$C" sr_scan "$@" && result_string >"$T/scan.xml"; }
vdi_field() { # <uuid> <element>: from the last scan
	sed -n "/<uuid>$1<\/uuid>/,/<\/vdi>/p" "$T/scan.xml" | sed -n "s/.*<$2>\(.*\)<\/$2>.*/\1/p" | head -1
}
sr_field() { sed -n "s/^  <$1>\(.*\)<\/$1>$/\1/p" "$T/scan.xml"; }

call unit "$D" "$C" sr_create 0 && [ ! -e "$STATE" ] && pass "sr_create: checks, writes nothing" || fail "sr_create"
call unit "$D" "$C" sr_attach && pass "sr_attach"
[ ! -s "$CSM_SR_REF_DIR/$ISCSI_IQN_PLAIN" ] && pass "sr_attach without a kernel initiator: checks only, no sr-ref entry" ||
	fail "sr_attach without a kernel initiator wrote sr-ref"
call unit "$D" "$C" sr_attach && pass "sr_attach twice"
call unit "$D" "$C" sr_attach --dconf "SCSIid=$SCSI2" && pass "sr_attach with the SCSIid of a LUN there"
fault 107 "$D" "$C" sr_attach --dconf SCSIid=36000000000000000000000000000dead && pass "sr_attach with a SCSIid no LUN has: 107 ($(opterr))"

scan_doc
if [ -s "$T/scan.xml" ]; then
	[ "$(grep -c '<vdi>' "$T/scan.xml")" = 2 ] || fail "scan: not 2 VDIs"
	[ "$(vdi_field $U1 size)" = 67108864 ] && [ "$(vdi_field $U2 size)" = 33554432 ] || fail "scan: sizes"
	[ "$(vdi_field $U1 utilisation)" = 67108864 ] || fail "scan: utilisation"
	[ "$(vdi_field $U1 type)" = raw ] && [ "$(vdi_field $U1 managed)" = false ] || fail "scan: type/managed"
	[ "$(vdi_field $U1 location)" = "$U1" ] || fail "scan: location"
	[ "$(vdi_field $U1 vendor)" = IET ] || fail "scan: vendor '$(vdi_field $U1 vendor)'"
	[ "$(vdi_field $U1 serial)" = beaf11 ] && [ "$(vdi_field $U2 serial)" = SN0002 ] || fail "scan: serials"
	grep -q "<entry key=\"SCSIid\">$SCSI1</entry>" "$T/scan.xml" &&
		grep -q "<entry key=\"SCSIid\">$SCSI2</entry>" "$T/scan.xml" || fail "scan: SCSIids"
	sed -n "/<uuid>$U2<\/uuid>/,/<\/vdi>/p" "$T/scan.xml" | tr -d '\n ' |
		grep -q '<sm_config><entrykey="LUNid">2</entry><entrykey="SCSIid">'"$SCSI2"'</entry><entrykey="backend-kind">vbd</entry></sm_config>' ||
		fail "scan: sm_config of LUN 2"
	[ "$(sr_field physical_size)" = 100663296 ] && [ "$(sr_field physical_utilisation)" = 100663296 ] &&
		[ "$(sr_field virtual_allocation)" = 100663296 ] && [ "$(sr_field default_vdi_visibility)" = false ] ||
		fail "scan: SR sizes $(sr_field physical_size)/$(sr_field physical_utilisation)"
	[ "$FAILS" -eq 0 ] && pass "scan: 2 LUNs, md5 uuids, sizes, vendor, serial, sm_config, SR sizes"
fi

# vdi_create: the smallest unmanaged LUN that fits, 44 when none.
fault 44 "$D" "$C" vdi_create 65M && pass "vdi_create larger than every LUN: 44 ($(opterr))"
call vdi_info "$D" "$C" vdi_create 20M && [ "$(member uuid)" = "$U2" ] &&
	pass "vdi_create 20M: the 32 MiB LUN" || fail "vdi_create 20M gave $(member uuid)"
call vdi_info "$D" "$C" vdi_create 20M && [ "$(member uuid)" = "$U1" ] &&
	pass "vdi_create 20M again: the 64 MiB LUN" || fail "second vdi_create gave $(member uuid)"
fault 44 "$D" "$C" vdi_create 1 && pass "every LUN managed: 44"
grep -qx "$U1 managed" "$STATE" && grep -qx "$U2 managed" "$STATE" && pass "managed bits in $STATE" ||
	fail "state file: $(cat "$STATE" 2>&1)"
scan_doc
[ "$(vdi_field $U1 managed)" = true ] && [ "$(vdi_field $U2 managed)" = true ] &&
	[ "$(sr_field physical_utilisation)" = 201326592 ] && [ "$(sr_field virtual_allocation)" = 201326592 ] &&
	pass "scan: managed, utilisation = size + managed sizes (BaseISCSI.scan)" ||
	fail "scan after create: $(sr_field physical_utilisation)"
fault 58 "$D" "$C" vdi_delete --slave --vdi "$U2" && pass "vdi_delete on a non-master: 58"
call unit "$D" "$C" vdi_delete --vdi "$U2" && [ "$(cat "$STATE")" = "$U1 managed" ] && pass "vdi_delete unmanages" ||
	fail "vdi_delete: $(cat "$STATE")"
call unit "$D" "$C" vdi_delete --vdi "$U2" && pass "vdi_delete twice"
call vdi_info "$D" "$C" vdi_create 1M && [ "$(member uuid)" = "$U2" ] && pass "the deleted LUN is handed out again"
call unit "$D" "$C" vdi_delete --vdi "$U2"

# vdi_introduce: LUNid names the LUN; 89 without it, 46 for a LUN that is not there.
NEW=11111111-2222-4333-8444-555555555555
call vdi_info "$D" "$C" vdi_introduce --new-uuid "$NEW" --sm-config LUNid=2 &&
	[ "$(member uuid)" = "$U2" ] && [ "$(member location)" = "$U2" ] && grep -qx "$U2 managed" "$STATE" &&
	pass "vdi_introduce LUNid=2: the LUN's own uuid, managed" || fail "vdi_introduce gave $(member uuid)"
fault 89 "$D" "$C" vdi_introduce --new-uuid "$NEW" && pass "vdi_introduce without LUNid: 89"
fault 89 "$D" "$C" vdi_introduce --new-uuid "$NEW" --sm-config LUNid=abc && pass "LUNid not a number: 89"
fault 46 "$D" "$C" vdi_introduce --new-uuid "$NEW" --sm-config LUNid=7 && pass "no LUN 7: 46"
fault 46 "$D" "$C" vdi_introduce --new-uuid "$NEW" --sm-config LUNid=0 && pass "LUN 0 (the controller) is no VDI: 46"

# vdi_attach / vdi_detach.
M=99999999-9999-4999-8999-999999999999
fault 46 "$D" "$C" vdi_attach --vdi "$M" true && pass "attach of a VDI no LUN has: 46"
fault 143 "$D" "$C" vdi_attach --vdi "$U1" maybe && pass "vdi_attach writable must be a bool"
fault 67 "$D" "$C" vdi_attach --vdi "$U1" true && grep -q 'no kernel' <<<"$(opterr)" &&
	pass "vdi_attach without a kernel initiator: 67 saying so" || fail "vdi_attach without an initiator: $(opterr)"
# Test builds map a SCSIid to a device by hand (csm/iscsi_host.h): the result's shape.
CSM_ISCSI_DEVICE_MAP="$SCSI1=$T/lun1-dev" run_raw "$D" "$("$SMCALL" --print-request "$D" "$C" vdi_attach --vdi "$U1" true)"
if printf '%s' "$OUT" | "$XAPI_CHECK" attach 2>/dev/null; then
	[ "$(member params)" = "$T/lun1-dev" ] &&
		grep -A1 '<name>vdi-type</name>' <<<"$OUT" | grep -q '<value><string>phy</string>' &&
		pass "vdi_attach: params is the LUN's device, vdi-type phy" || fail "attach result: $OUT"
else
	skip_part "CSM_ISCSI_DEVICE_MAP (test builds only) not honoured: attach result not checked ($(opterr))"
fi
call unit "$D" "$C" vdi_detach --vdi "$U1" && call unit "$D" "$C" vdi_detach --vdi "$M" &&
	pass "vdi_detach: nothing to undo"

# vdi_activate / vdi_deactivate: the LUN's block device served raw over NBD.
# The device is a loop device standing in for the kernel session's disk
# (CSM_ISCSI_DEVICE_MAP, test builds); the VM test drives a real one.
CSM_NBD=on fault 46 "$D" "$C" vdi_activate --vdi "$U1" true && grep -q 'no kernel' <<<"$(opterr)" &&
	pass "vdi_activate without a kernel initiator: 46 saying so" || fail "activate without an initiator: $(opterr)"
CSM_NBD=off call unit "$D" "$C" vdi_activate --vdi "$U1" true && [ ! -e "$CSM_NBD_DIR/$SR_UUID/$U1" ] &&
	pass "CSM_NBD=off: activate serves nothing"
if command -v nbdkit >/dev/null && command -v qemu-io >/dev/null && [ -f "$BUILD/csm-nbdkit.so" ] &&
	truncate -s 8M "$T/lun1.img" && LUNDEV=$(losetup -f --show "$T/lun1.img" 2>/dev/null); then
	nbdkit_for_drivers "$BUILD/csm-nbdkit.so"   # absolute: the driver runs with iscsiadm's PATH hidden
	# (the driver under test is a copy in $T: the plugin is not beside it)
	export CSM_ISCSI_DEVICE_MAP="$SCSI1=$LUNDEV" CSM_NBD_PLUGIN="$BUILD/csm-nbdkit.so"
	SOCK="$CSM_NBD_DIR/$SR_UUID/$U1"
	CSM_NBD=on call unit "$D" "$C" vdi_activate --vdi "$U1" true && [ -S "$SOCK" ] &&
		pass "vdi_activate serves the LUN's device on params_nbd's socket" || fail "no socket at $SOCK"
	pid=$(sed -n 's/^pid=//p' "$SOCK.server" 2>/dev/null)
	CSM_NBD=on call unit "$D" "$C" vdi_activate --vdi "$U1" true &&
		[ "$(sed -n 's/^pid=//p' "$SOCK.server" 2>/dev/null)" = "$pid" ] && pass "a second activate keeps the server"
	grep -q 'device=' "/proc/$pid/cmdline" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "device=$LUNDEV format=raw" &&
		pass "served raw from the LUN's device" || fail "nbdkit's command line: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"
	timeout 20 qemu-io -f raw -c "write -P 0x5a 1M 2M" -c flush "nbd+unix:///$U1?socket=$SOCK" >"$T/qio" 2>&1 ||
		fail "qemu-io through the LUN's server: $(cat "$T/qio")"
	CSM_NBD=on call unit "$D" "$C" vdi_deactivate --vdi "$U1" && [ ! -e "$SOCK" ] &&
		pass "vdi_deactivate stops the server" || fail "deactivate left $(ls "$CSM_NBD_DIR/$SR_UUID" 2>&1)"
	cmp -s <(dd if="$T/lun1.img" bs=1M skip=1 count=2 status=none) <(head -c $((2 << 20)) /dev/zero | tr '\0' '\132') &&
		pass "what was written through NBD is on the LUN" || fail "the LUN does not hold the NBD write"
	CSM_NBD=on call unit "$D" "$C" vdi_activate --vdi "$U1" false && grep -q '^mode=RO' "$SOCK.server" &&
		pass "a read-only activate serves read-only" || fail "read-only activate: $(cat "$SOCK.server" 2>&1)"
	timeout 20 qemu-io -f raw -c "write -P 0x11 0 4k" "nbd+unix:///$U1?socket=$SOCK" >"$T/qio" 2>&1 &&
		fail "a write through the read-only server succeeded"
	CSM_NBD=on call unit "$D" "$C" vdi_deactivate --vdi "$U1"
	unset CSM_ISCSI_DEVICE_MAP CSM_NBDKIT CSM_NBD_PLUGIN
	losetup -d "$LUNDEV"
else
	fail "nbdkit, qemu-io, the plugin or a loop device is missing: the LUN data path is not tested"
fi

# A damaged state file is never read as "nothing managed".
cp "$STATE" "$T/state.good"
echo "garbage line" >>"$STATE"
fault 47 "$D" "$C" vdi_create 1M && fault 47 "$D" "$C" sr_scan && pass "a damaged state file: 47"
cp "$T/state.good" "$STATE"

# --- bad input (as test_bad_input.sh) ---------------------------------------------------------
for bad in '../../etc/passwd' 'not-a-uuid' "$U1/../x" ''; do
	fault 143 "$D" "$C" vdi_delete --vdi "$bad" || fail "vdi_uuid '$bad' accepted"
	fault 143 "$D" "$C" sr_scan --sr "$bad" || fail "sr_uuid '$bad' accepted"
done
pass "bad uuids: 143"
for bad in -1 abc 1e9 ' 10' 0x10 99999999999999999999999; do
	fault 79 "$D" "$C" --verbatim vdi_create -- "$bad" x '' '' false 19700101T00:00:00Z '' false || fail "size '$bad'"
done
pass "bad sizes: 79"
fault 38 "$D" "$C" vdi_snapshot --vdi "$U1" && fault 38 "$D" "$C" vdi_resize --vdi "$U1" 1G &&
	fault 38 "$D" "$C" vdi_clone --vdi "$U1" && pass "snapshot, resize, clone: 38"
raw_fault 143 "$D" && raw_fault 143 "$D" --help && pass "argv: 143"
REQ=$("$SMCALL" --print-request "$D" "$C" sr_scan | sed 's/sr_scan/sr_frobnicate/g')
raw_fault 143 "$D" "$REQ" && pass "unknown command: 143"
fault 95 "$D" "$C" sr_scan --dconf target=, && pass "target ',': 95"
fault 143 "$D" "$C" vdi_create && pass "vdi_create without a size: 143"
cmp -s "$STATE" "$T/state.good" && pass "bad input changed no managed bit" || fail "bad input changed $STATE"

# --- secrets: never in stdout, stderr or the log ----------------------------------------------
# LIBISCSI_DEBUG would make libiscsi print the CHAP exchange on stderr, if it were listened to.
export SM_LOG_STDERR=1 LIBISCSI_DEBUG=10
LEAKS=0
leak_check() { # <what>: after a call
	local s
	for s in "$ISCSI_CHAP_PASSWORD" "$ISCSI_MUTUAL_PASSWORD" "$ISCSI_TARGET_PASSWORD" wrongsecret99 wrongtarget99; do
		if grep -qF -- "$s" "$T/stdout" "$T/stderr"; then
			fail "$1: '$s' in the output: $(grep -hF -- "$s" "$T/stdout" "$T/stderr" | head -2)"
			LEAKS=$((LEAKS + 1))
		fi
	done
}
LOGGED=0
for cmd in sr_probe sr_create sr_attach sr_scan vdi_create sr_detach; do
	for pw in "$ISCSI_CHAP_PASSWORD" wrongsecret99; do
		set +e
		"$D" "$("$SMCALL" --print-request "$D" "$C" $cmd "${CHAP[@]}" --dconf "chappassword=$pw" \
			$( [ $cmd = vdi_create ] && echo 1M ) $( [ $cmd = sr_create ] && echo 0 ))" >"$T/stdout" 2>"$T/stderr"
		set -e
		leak_check "CHAP $cmd"
		grep -q "'chappassword': '\*\*\*\*\*\*'" "$T/stderr" && LOGGED=$((LOGGED + 1))
	done
	for pw in "$ISCSI_TARGET_PASSWORD" wrongtarget99; do
		set +e
		"$D" "$("$SMCALL" --print-request "$D" "$C" $cmd "${MUTUAL[@]}" --dconf "incoming_chappassword=$pw" \
			$( [ $cmd = vdi_create ] && echo 1M ) $( [ $cmd = sr_create ] && echo 0 ))" >"$T/stdout" 2>"$T/stderr"
		set -e
		leak_check "mutual $cmd"
	done
done
# With the IQN list on stderr too (no targetIQN), and a dead portal.
for extra in targetIQN= "port=$FREE"; do
	set +e
	"$D" "$("$SMCALL" --print-request "$D" "$C" sr_probe "${MUTUAL[@]}" --dconf "$extra" \
		--dconf "incoming_chappassword=$ISCSI_TARGET_PASSWORD")" >"$T/stdout" 2>"$T/stderr"
	set -e
	leak_check "probe with $extra"
done
[ "$LOGGED" -eq 12 ] || fail "the log capture did not see the masked request ($LOGGED of 12): the leak check proves nothing"
[ "$LEAKS" -eq 0 ] && [ "$LOGGED" -eq 12 ] && pass "no password in stdout, stderr or the log (SM_LOG_STDERR, LIBISCSI_DEBUG=10) of 26 calls"
unset SM_LOG_STDERR LIBISCSI_DEBUG

# --- detach, delete ------------------------------------------------------------------------------
call unit "$D" "$C" sr_detach && call unit "$D" "$C" sr_detach && pass "sr_detach, twice"
[ ! -s "$CSM_SR_REF_DIR/$ISCSI_IQN_PLAIN" ] || ! grep -qx "$SR_UUID" "$CSM_SR_REF_DIR/$ISCSI_IQN_PLAIN" ||
	fail "sr_detach left the SR in sr-ref"
fault 58 "$D" "$C" sr_delete --slave && pass "sr_delete on a non-master: 58"
call unit "$D" "$C" sr_delete && [ ! -e "$STATE" ] && pass "sr_delete forgets the managed bits" || fail "sr_delete"

# --- a target that hangs, or dies, in the middle of a call -----------------------------------------
iscsi_target_freeze
expect_bounded 141 "frozen target, scan" sr_scan
expect_bounded 141 "frozen target, probe" sr_probe
start=$(date +%s%N)
req=$("$SMCALL" --print-request "$D" "$C" sr_scan --dconf iscsi-timeout=30)
( "$D" "$req" >"$T/stdout" 2>"$T/stderr" ) &
CALL=$!
sleep 1
iscsi_target_kill || true
wait "$CALL" || true
ms=$(ms_since "$start")
OUT=$(cat "$T/stdout")
if printf '%s' "$OUT" | "$XAPI_CHECK" fault 2>/dev/null && [ "$ms" -lt 10000 ]; then
	pass "target killed mid-scan: fault in $ms ms ($(sed -n 's/.*<int>\([0-9]*\)<.*/\1/p' <<<"$OUT" | head -1): $(opterr | cut -c1-80))"
else
	fail "target killed mid-scan: $ms ms: $OUT"
fi
# Teardown needs no target.
call unit "$D" "$C" sr_detach && call unit "$D" "$C" vdi_detach --vdi "$U1" &&
	call unit "$D" "$C" vdi_delete --vdi "$U1" && pass "detach and delete with the target gone"
expect_bounded 141 "target gone, probe" sr_probe

finish
