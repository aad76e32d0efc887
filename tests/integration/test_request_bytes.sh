#!/usr/bin/env bash
# smcall builds the same bytes xapi sends (tests/data/requests), and the
# driver accepts those literal requests as they are.
source "$(dirname "$0")/lib.sh"
R="$REPO/tests/data/requests"
norm() { sed 's/OpaqueRef:[^<]*/OpaqueRef:X/g'; }
S=3f1c0d9e-5d2a-4b7e-9c61-0e8a2b4f7a10
V=b7a1c3e2-2f4d-4c6b-8e0a-9d1f2c3b4a5e
check() {
	local name=$1; shift
	if diff <("$SMCALL" --print-request "$@" | norm) <(norm <"$R/$name.xml") >"$T/diff"; then
		pass "smcall $name bytes = xapi's"
	else
		fail "smcall $name differs from xapi's request:"$'\n'"$(cat "$T/diff")"
	fi
}
check sr_get_driver_info "$BUILD/FileSR" none sr_get_driver_info
check sr_scan "$BUILD/FileSR" "$R/nfs.conf" sr_scan --sr $S
check vdi_create "$BUILD/FileSR" "$R/nfs.conf" vdi_create --sr $S 10737418240 'data disk' '' '' false 19700101T00:00:00Z '' false
check vdi_attach "$BUILD/FileSR" "$R/nfs.conf" vdi_attach --slave --sr $S --vdi $V true

# The literal bytes go straight to the driver: no location → 94, info works.
run_raw "$BUILD/FileSR" "$(cat "$R/sr_get_driver_info.xml")"
printf '%s' "$OUT" | "$XAPI_CHECK" driver_info && pass "literal sr_get_driver_info" || fail "literal driver info"
for r in sr_scan vdi_create vdi_attach; do
	run_raw "$BUILD/FileSR" "$(cat "$R/$r.xml")"
	printf '%s' "$OUT" | "$XAPI_CHECK" fault 94 && pass "literal $r parsed, fault 94 (no location)" || fail "literal $r"
done
# Python-style requests (declaration, <string>, newlines) are accepted too.
req=$("$SMCALL" --python --print-request "$BUILD/FileSR" none sr_get_driver_info)
grep -q "<?xml version='1.0'?>" <<<"$req" || fail "python style lacks the declaration"
run_raw "$BUILD/FileSR" "$req"
printf '%s' "$OUT" | "$XAPI_CHECK" driver_info && pass "Python-style request" || fail "python style"
finish
