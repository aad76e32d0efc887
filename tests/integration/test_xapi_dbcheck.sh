#!/usr/bin/env bash
# The checker of the xapi-mode driver tests (tests/xapi/dbcheck.py and
# tests/xapi/check.sh's db_check) against a database made to agree with a
# FileSR's storage by hand (records seeded from the scan document through
# debug.seed): it passes; then each kind of disagreement (a size, managed,
# read_only, vhd-parent, a leftover "activating", a missing and an extra
# record, SR sizes, an int64 sent as <int>, a snapshot_time sent as a
# string) is found and named.  The checker must fail when the driver is
# wrong, or the driver tests prove nothing.
source "$(dirname "$0")/lib.sh"
source "$REPO/tests/xapi/check.sh"
set +e
need python3=python3
D="$BUILD/FileSR"
C="$REPO/examples/dconf/file.conf"
trap 'xapi_stop_all; rm -rf "$T"' EXIT
storage_uuids() { (cd "$FILE_SR_DIR" && ls -- *.vhd *.raw 2>/dev/null | sed 's/\.[a-z]*$//' | sort); }

export CSM_XAPI=off
call unit "$D" "$C" sr_create 0 && call unit "$D" "$C" sr_attach
call vdi_info "$D" "$C" vdi_create 64M && V=$(member uuid)
call vdi_info "$D" "$C" vdi_snapshot --vdi "$V" && S=$(member uuid)
call vdi_info "$D" "$C" vdi_create --sm-config type=raw 4M && R=$(member uuid)
call string "$D" "$C" sr_scan && string_result >"$T/truth.xml"
xapi_start file

# The records xapi would hold for that scan, and the SR sizes.
python3 - "$T/truth.xml" "$XAPI_SR_REF" >"$T/seed.json" <<'PY'
import json, sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
vdis = []
for v in root.findall("vdi"):
    t = lambda k: v.findtext(k) or ""
    sm = {"vhd-parent": t("parent")} if t("parent") else {}
    vdis.append({"uuid": t("uuid"), "SR": sys.argv[2], "location": t("location"),
                 "virtual_size": t("size"), "physical_utilisation": t("utilisation"),
                 "read_only": t("read_only") == "true", "managed": t("managed") == "true",
                 "sm_config": sm})
print(json.dumps({"VDI": vdis}))
PY
xrpc debug.seed "str:$(cat "$T/seed.json")" >/dev/null || fail "debug.seed"
for f in physical_size virtual_allocation physical_utilisation; do
	xrpc "SR.set_$f" "$XAPI_SR_REF" "\"$(sed -n "s/^  <$f>\(.*\)<\/$f>$/\1/p" "$T/truth.xml")\"" >/dev/null
done
db_check "a database seeded from the storage" --sr-sizes "$D" "$C"
[ "$FAILS" = 0 ] || { fail "the checker refuses a database that agrees"; finish; }

# expect_refused <what> <text the checker must print> [db_check options]
expect_refused() {
	local what=$1 want=$2 f=$FAILS; shift 2
	db_check "$what" "$@" "$D" "$C" >/dev/null 2>&1
	if [ "$FAILS" -gt "$f" ] && grep -qF -- "$want" "$T/dbcheck.out"; then
		FAILS=$f; pass "refused: $what ($(grep -F -- "$want" "$T/dbcheck.out" | head -1))"
	else
		FAILS=$f; fail "not refused: $what: $(cat "$T/dbcheck.out")"
	fi
}
ref() { vdi_ref "$1"; }
B=$(sed -n "/<uuid>$V<\/uuid>/,/<\/vdi>/s/.*<parent>\(.*\)<\/parent>.*/\1/p" "$T/truth.xml")
xrpc VDI.set_virtual_size "$(ref "$V")" '"1"' >/dev/null
expect_refused "a wrong virtual_size" "$V: virtual_size"
xrpc VDI.set_virtual_size "$(ref "$V")" '"67108864"' >/dev/null
xrpc VDI.set_managed "$(ref "$B")" true >/dev/null
expect_refused "a base copy managed" "$B: managed"
xrpc VDI.set_managed "$(ref "$B")" false >/dev/null
xrpc VDI.set_read_only "$(ref "$B")" false >/dev/null
expect_refused "a base copy writable" "$B: read_only"
xrpc VDI.set_read_only "$(ref "$B")" true >/dev/null
xrpc VDI.remove_from_sm_config "$(ref "$S")" vhd-parent >/dev/null
expect_refused "a vhd-parent missing" "$S: sm_config vhd-parent"
xrpc VDI.add_to_sm_config "$(ref "$S")" vhd-parent "$B" >/dev/null
xrpc VDI.add_to_sm_config "$(ref "$V")" activating True >/dev/null
expect_refused "activating left behind" "still has 'activating'"
xrpc VDI.remove_from_sm_config "$(ref "$V")" activating >/dev/null
xrpc SR.set_physical_size "$XAPI_SR_REF" '"5"' >/dev/null
expect_refused "an SR size" "SR physical_size" --sr-sizes
xrpc SR.set_physical_size "$XAPI_SR_REF" "\"$(sed -n 's/^  <physical_size>\(.*\)<\/physical_size>$/\1/p' "$T/truth.xml")\"" >/dev/null
xrpc VDI.db_forget "$(ref "$R")" >/dev/null
expect_refused "a record missing" "$R: on the storage, not in the database"
X=0e0e0e0e-1111-4222-8333-444444444444
xrpc debug.seed "str:{\"VDI\": [{\"uuid\": \"$X\", \"SR\": \"$XAPI_SR_REF\", \"location\": \"$X\"}]}" >/dev/null
expect_refused "an extra record" "$X: in the database, not on the storage"
xrpc VDI.db_forget "$(ref "$X")" >/dev/null
xrpc debug.seed "str:{\"VDI\": [{\"uuid\": \"$R\", \"SR\": \"$XAPI_SR_REF\", \"location\": \"$R\", \"virtual_size\": \"4194304\", \"physical_utilisation\": \"4194304\", \"managed\": true}]}" >/dev/null
db_check "the database restored" "$D" "$C"
storage_uuids() { (cd "$FILE_SR_DIR" && ls -- *.vhd *.raw 2>/dev/null | sed 's/\.[a-z]*$//'; echo "$X") | sort; }
expect_refused "the storage's own count differs from the scan" "the scan document and the storage disagree"
storage_uuids() { (cd "$FILE_SR_DIR" && ls -- *.vhd *.raw 2>/dev/null | sed 's/\.[a-z]*$//' | sort); }
# Types on the wire: what the driver sent, as the server recorded it.
xrpc VDI.set_virtual_size "$(ref "$V")" 67108864 >/dev/null
expect_refused "an int64 sent as <int>" "VDI.set_virtual_size sent argument 2 as 67108864"
xrpc debug.reset_calls >/dev/null
xrpc VDI.set_virtual_size "$(ref "$V")" '"67108864"' >/dev/null
db_check "an int64 sent as a decimal string" "$D" "$C"
printf '[["VDI.db_introduce", ["u", "", "", "r", "user", false, false, {}, "l", {}, {}, true, "1", "1", "", false, "19700101T00:00:00Z", "", false]]]' >"$T/calls.bad"
python3 "$REPO/tests/xapi/dbcheck.py" --dump "$T/dump.json" --scan "$T/scan.xml" --sr "$SR_UUID" \
	--calls "$T/calls.bad" >"$T/bad.out" 2>&1
grep -q 'sent snapshot_time as' "$T/bad.out" && pass "refused: a snapshot_time sent as a string" ||
	fail "not refused: a snapshot_time sent as a string"
finish
