#!/usr/bin/env bash
# lib/iscsi.c against a private tgtd (tests/iscsi/target.sh): discovery,
# the LUN list with the SCSIids, VDI uuids, sizes, vendor and serial
# verified against tgt (block-family.md §C.3, §D.1), CHAP and mutual CHAP
# and each login fault, refused and silent portals, a target frozen or
# killed mid-call (a fault within the deadline), and a read of LUN bytes.
BUILD=${1:-build}
source "$(dirname "$0")/lib.sh"
need_root "tgtd"
why=$(source "$REPO/tests/iscsi/target.sh"; iscsi_target_check) || skip "$why"
source "$REPO/tests/iscsi/target.sh"

IT="$BUILD/tests/iscsi_t"
[ -x "$IT" ] || skip "$IT not built (make TEST_BUILD=1 all-tests)"
H=127.0.0.1

iscsi_target_start "$T/tgt" || { fail "tgtd did not start"; finish; }
trap 'iscsi_silent_port_stop; iscsi_target_stop; cleanup' EXIT

# it <args...>: run iscsi_t; OUT = stdout, ERR = stderr, RC, MS = elapsed ms.
it() {
	set +e
	OUT=$("$IT" "$@" 2>"$T/it.err")
	RC=$?
	set -e
	ERR=$(cat "$T/it.err")
	MS=$(sed -n 's/^elapsed_ms=//p' "$T/it.err")
}

# expect_fault <code> <text in the detail> <args...>
expect_fault() {
	local code=$1 text=$2; shift 2
	it "$@"
	case $OUT in
	"FAULT $code "*"$text"*) pass "fault $code ($text): ${OUT#FAULT }" ;;
	*) fail "$*: expected FAULT $code with '$text', got rc $RC: $OUT $ERR" ;;
	esac
}

no_secret() {	# the secrets never appear in what the tool printed
	local s
	for s in "$ISCSI_CHAP_PASSWORD" "$ISCSI_MUTUAL_PASSWORD" "$ISCSI_TARGET_PASSWORD" wrongpass12 wrongtarget1; do
		case "$OUT$ERR" in *"$s"*) fail "a secret ($s) in the output: $OUT" ;; esac
	done
}

# --- discovery: every target, ",tpgt" stripped ---
it discover "$H" "$ISCSI_PORT"
want=$(printf '%s\n' "$H $ISCSI_PORT $ISCSI_IQN_CHAP" "$H $ISCSI_PORT $ISCSI_IQN_MUTUAL" \
	"$H $ISCSI_PORT $ISCSI_IQN_PLAIN")
if [ "$RC" -eq 0 ] && [ "$(sort <<<"$OUT")" = "$want" ]; then
	pass "discovery lists the three targets"
else
	fail "discovery: rc $RC: $OUT $ERR"
fi

# --- LUN list of the plain target: LUN 0 (tgt's controller) skipped ---
it luns "$H" "$ISCSI_PORT" "$ISCSI_IQN_PLAIN"
want="lun=1 vendor=IET product=VIRTUAL-DISK serial=beaf11 scsi_id=360000000000000000e00000000010001 uuid=cc26187c-5707-6d73-0070-e541a4ac88c7 size=67108864 block=512
lun=2 vendor=IET product=VIRTUAL-DISK serial=SN0002 scsi_id=3600000000000000000000e0012345678 uuid=c558df94-29df-583e-f0fb-e552d2913125 size=33554432 block=512"
if [ "$RC" -eq 0 ] && [ "$OUT" = "$want" ]; then
	pass "LUN list: SCSIids, uuids, sizes, vendor, serials as verified"
else
	fail "LUN list: rc $RC:"$'\n'"$OUT"$'\n'"want:"$'\n'"$want $ERR"
fi

# REPORT LUNS re-issued at full size: 20 LUNs do not fit the first 16 bytes.
iscsi_target_add_target 9 iqn.2024-01.test.local:many >/dev/null
for n in $(seq 1 20); do
	truncate -s 1M "$ISCSI_LUN_DIR/many$n.img"
	iscsi_target_add_lun 9 "$n" "$ISCSI_LUN_DIR/many$n.img" >/dev/null
done
it luns "$H" "$ISCSI_PORT" iqn.2024-01.test.local:many
if [ "$RC" -eq 0 ] && [ "$(wc -l <<<"$OUT")" -eq 20 ] &&
   [ "$(sed -n 's/^lun=\([0-9]*\) .*/\1/p' <<<"$OUT" | paste -sd,)" = "$(seq -s, 1 20)" ]; then
	pass "20 LUNs listed in order (REPORT LUNS at full size)"
else
	fail "20 LUNs: rc $RC: $(wc -l <<<"$OUT") lines: $OUT $ERR"
fi

# --- IPv6: a portal on [::1]; discovery keeps the brackets, login takes the
# bare address or the bracketed one ---
P6=$(iscsi_free_port)
if iscsi_tgtadm --mode portal --op new --param portal="[::1]:$P6" >/dev/null 2>&1 &&
   iscsi_tgtadm --mode target --op bind --tid 1 --initiator-address ::1 >/dev/null 2>&1; then
	it discover ::1 "$P6"
	[ "$RC" -eq 0 ] && [ "$OUT" = "[::1] $P6 $ISCSI_IQN_PLAIN" ] &&
		pass "IPv6 discovery: $OUT" || fail "IPv6 discovery: rc $RC: $OUT $ERR"
	it luns "[::1]" "$P6" "$ISCSI_IQN_PLAIN"
	[ "$RC" -eq 0 ] && [[ $OUT == *"scsi_id=3600000000000000000000e0012345678 "* ]] &&
		pass "IPv6 login and LUN list" || fail "IPv6 LUN list: rc $RC: $OUT $ERR"
else
	skip_part "no IPv6 portal on ::1 here"
fi

# --- CHAP ---
it luns -u "$ISCSI_CHAP_USER" -p "$ISCSI_CHAP_PASSWORD" "$H" "$ISCSI_PORT" "$ISCSI_IQN_CHAP"
if [ "$RC" -eq 0 ] && [[ $OUT == "lun=1 vendor=IET "*"scsi_id=360000000000000000e00000000020001 "*"size=16777216 "* ]]; then
	pass "CHAP login and LUN list"
else
	fail "CHAP: rc $RC: $OUT $ERR"
fi
no_secret
# libiscsi's own debug log (LIBISCSI_DEBUG) stays off: stderr reaches xapi.
LIBISCSI_DEBUG=10 it luns -u "$ISCSI_MUTUAL_USER" -p "$ISCSI_MUTUAL_PASSWORD" -U "$ISCSI_TARGET_USER" \
	-P "$ISCSI_TARGET_PASSWORD" "$H" "$ISCSI_PORT" "$ISCSI_IQN_MUTUAL"
# (libiscsi prints its allocation sizes before we can turn it off; never the login.)
[ "$RC" -eq 0 ] && ! grep -q 'CHAP\|Login' <<<"$ERR" &&
	pass "LIBISCSI_DEBUG set: no login exchange on stderr" ||
	fail "LIBISCSI_DEBUG: rc $RC, stderr: $(head -c 600 <<<"$ERR")"
no_secret
expect_fault 68 "wants CHAP credentials" luns "$H" "$ISCSI_PORT" "$ISCSI_IQN_CHAP"
expect_fault 68 "the target refused our CHAP credentials" \
	luns -u "$ISCSI_CHAP_USER" -p wrongpass12 "$H" "$ISCSI_PORT" "$ISCSI_IQN_CHAP"
no_secret

# --- mutual CHAP ---
it luns -u "$ISCSI_MUTUAL_USER" -p "$ISCSI_MUTUAL_PASSWORD" -U "$ISCSI_TARGET_USER" \
	-P "$ISCSI_TARGET_PASSWORD" "$H" "$ISCSI_PORT" "$ISCSI_IQN_MUTUAL"
if [ "$RC" -eq 0 ] && [[ $OUT == "lun=1 "*"scsi_id=360000000000000000e00000000030001 "* ]]; then
	pass "mutual CHAP login and LUN list"
else
	fail "mutual CHAP: rc $RC: $OUT $ERR"
fi
expect_fault 68 "the target's mutual CHAP response was wrong" \
	luns -u "$ISCSI_MUTUAL_USER" -p "$ISCSI_MUTUAL_PASSWORD" -U "$ISCSI_TARGET_USER" \
	-P wrongtarget1 "$H" "$ISCSI_PORT" "$ISCSI_IQN_MUTUAL"
no_secret
expect_fault 68 "the target refused our CHAP credentials" \
	luns -u "$ISCSI_MUTUAL_USER" -p wrongpass12 -U "$ISCSI_TARGET_USER" \
	-P "$ISCSI_TARGET_PASSWORD" "$H" "$ISCSI_PORT" "$ISCSI_IQN_MUTUAL"
no_secret

# --- unknown IQN, refused port, unknown name, bad port ---
expect_fault 83 "iqn.2024-01.test.local:nosuch not found" \
	luns "$H" "$ISCSI_PORT" iqn.2024-01.test.local:nosuch
free=$(iscsi_free_port)
expect_fault 141 "port $free: connection refused" luns "$H" "$free" "$ISCSI_IQN_PLAIN"
expect_fault 141 "connection refused" discover "$H" "$free"
expect_fault 140 "no.such.host.invalid" tcpcheck no.such.host.invalid 3260 1000
expect_fault 142 "port 70000" tcpcheck "$H" 70000 1000

# --- a silent portal: TCP connects, iSCSI never answers ---
iscsi_silent_port_start
it tcpcheck "$H" "$ISCSI_SILENT_PORT" 1000
[ "$RC" -eq 0 ] && pass "TCP check of the silent port connects" || fail "tcpcheck silent: $OUT"
expect_fault 141 "login on $H:$ISCSI_SILENT_PORT: no answer from the target within 1500 ms" \
	luns -t 1500 "$H" "$ISCSI_SILENT_PORT" "$ISCSI_IQN_PLAIN"
[ "${MS:-99999}" -ge 1400 ] && [ "${MS:-99999}" -lt 3000 ] &&
	pass "silent portal: fault after $MS ms (deadline 1500)" || fail "silent portal took ${MS:-?} ms"
expect_fault 141 "no answer from the target within 1500 ms" \
	discover -t 1500 "$H" "$ISCSI_SILENT_PORT"
iscsi_silent_port_stop

# --- read: bytes at an odd offset across blocks match the backing file ---
head -c 300000 /dev/urandom | dd of="$ISCSI_LUN_DIR/lun2.img" bs=1 seek=1000001 conv=notrunc status=none
set +e
"$IT" read "$H" "$ISCSI_PORT" "$ISCSI_IQN_PLAIN" 2 1000003 299990 >"$T/read.out" 2>"$T/it.err"
RC=$?
set -e
if [ "$RC" -eq 0 ] && cmp -s "$T/read.out" <(dd if="$ISCSI_LUN_DIR/lun2.img" bs=1 skip=1000003 count=299990 status=none); then
	pass "read of 299990 bytes at 1000003 of LUN 2 matches the backing file"
else
	fail "read: rc $RC, $(cat "$T/it.err") $(head -c 200 "$T/read.out")"
fi
set +e
"$IT" read "$H" "$ISCSI_PORT" "$ISCSI_IQN_PLAIN" 2 $((32 * 1024 * 1024 - 10)) 11 >"$T/read.out" 2>/dev/null
RC=$?
set -e
grep -q '^FAULT 67 .*past the end of LUN 2' "$T/read.out" && pass "read past the end: 67" ||
	fail "read past the end: rc $RC $(cat "$T/read.out")"

# --- the target frozen, then killed, mid-call: a fault within the deadline ---
mid_call() {	# mid_call <freeze|kill> <iscsi_t args...>
	local how=$1 p; shift
	rm -f "$T/marker"
	"$IT" "$1" -t 2000 -m "$T/marker" -w 300 "${@:2}" >"$T/mid.out" 2>"$T/mid.err" &
	p=$!
	for _ in $(seq 1 200); do [ -e "$T/marker" ] && break; sleep 0.02; done
	[ -e "$T/marker" ] || fail "$how: the tool did not log in"
	if [ "$how" = freeze ]; then iscsi_target_freeze; else iscsi_target_kill; fi
	set +e
	wait "$p"
	set -e
	OUT=$(grep -a '^FAULT' "$T/mid.out" || true)
	MS=$(sed -n 's/^elapsed_ms=//p' "$T/mid.err")
}
mid_call freeze luns "$H" "$ISCSI_PORT" "$ISCSI_IQN_PLAIN"
case $OUT in
"FAULT 141 "*"no answer from the target within 2 s"*)
	[ "${MS:-99999}" -lt 4000 ] && pass "frozen mid-call: 141 after $MS ms" ||
		fail "frozen mid-call took ${MS:-?} ms" ;;
*) fail "frozen mid-call: $OUT $(cat "$T/mid.err")" ;;
esac
iscsi_target_thaw
mid_call kill read "$H" "$ISCSI_PORT" "$ISCSI_IQN_PLAIN" 1 0 4096
case $OUT in
"FAULT 141 "*)
	[ "${MS:-99999}" -lt 3000 ] && pass "killed mid-call: 141 after $MS ms: ${OUT#FAULT 141 }" ||
		fail "killed mid-call took ${MS:-?} ms" ;;
*) fail "killed mid-call: $OUT $(cat "$T/mid.err")" ;;
esac
[ ! -e "/run/tgtd/socket.$ISCSI_CTL" ] && pass "killed tgtd's control socket removed" ||
	fail "socket.$ISCSI_CTL left behind"

finish
