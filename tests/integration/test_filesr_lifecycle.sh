#!/usr/bin/env bash
# A whole FileSR lifecycle, driven with requests byte-for-byte like xapi's
# (built by smcall from examples/dconf/file.conf), every response checked
# against xapi's parser rules, and the on-disk result checked with vhdtool.
source "$(dirname "$0")/lib.sh"
D="$BUILD/FileSR"
C="$REPO/examples/dconf/file.conf"

call driver_info "$D" none sr_get_driver_info && pass "sr_get_driver_info"
grep -q '<value><string>VDI_SNAPSHOT</string></value>' <<<"$OUT" || fail "driver info lacks VDI_SNAPSHOT"
grep -q 'SR_PROBE' <<<"$OUT" && grep -q 'THIN_PROVISIONING' <<<"$OUT" || fail "driver info capabilities"

call unit "$D" "$C" sr_create 0 && pass "sr_create makes $FILE_SR_DIR"
[ -d "$FILE_SR_DIR" ] || fail "sr_create did not make the directory"
fault 42 "$D" "$C" sr_create 0 || true   # marker file: not empty any more
call unit "$D" "$C" sr_attach && pass "sr_attach"
call unit "$D" "$C" sr_attach && pass "sr_attach is idempotent"
[ "$(readlink "$SM_MOUNT_BASE/$SR_UUID")" = "$FILE_SR_DIR" ] || fail "attach link"
call string "$D" "$C" sr_probe && grep -q "$SR_UUID" <<<"$OUT" && pass "sr_probe finds the SR"
# A location with XML's special characters: the probe document parses and
# gives the location back exactly (it was pasted in unescaped).
ODD="$T/odd &<>\"' dir" ODD_UUID=0d5d8e3c-7a39-4c61-b0a4-6f4a3b1e2c77
if ! command -v python3 >/dev/null; then
	skip_part "sr_probe of a location with XML specials: no python3 to parse it (Debian package python3)"
elif SR_UUID=$ODD_UUID FILE_SR_DIR=$ODD call unit "$D" "$C" sr_create 0 &&
	SR_UUID=$ODD_UUID FILE_SR_DIR=$ODD call string "$D" "$C" sr_probe; then
	LOC=$(string_result | python3 -c 'import sys, xml.dom.minidom as m
d = m.parseString(sys.stdin.buffer.read())
print(d.getElementsByTagName("Location")[0].firstChild.data, end="")' 2>&1) || true
	[ "$LOC" = "$ODD" ] && pass "sr_probe escapes a location with &<>\"'" ||
		fail "sr_probe of $ODD: $LOC"$'\n'"$(string_result)"
fi
if [ -e "$ODD" ]; then
	SR_UUID=$ODD_UUID FILE_SR_DIR=$ODD call unit "$D" "$C" sr_delete || true
	[ ! -e "$ODD" ] || fail "sr_delete left $ODD"
fi
call string "$D" "$C" sr_content_type && grep -q '&lt;type&gt;vhd&lt;/type&gt;' <<<"$OUT" && pass "sr_content_type"

# vdi_create: 8 args as xapi sends them; label with XML specials.
call vdi_info "$D" "$C" vdi_create 1073741824 'data & <disk>' 'first "disk"' '' false 19700101T00:00:00Z '' false
V1=$(member uuid); [ "$(member location)" = "$V1" ] || fail "location != uuid"
[ -f "$FILE_SR_DIR/$V1.vhd" ] && pass "vdi_create made $V1.vhd"
"$VHDTOOL" query "$FILE_SR_DIR/$V1.vhd" | grep -qx 'virtual_size=.* (1073741824 bytes)' || fail "virtual size"

# A given vdi_uuid is honoured; sizes round up to 2 MiB; raw by sm_config.
V2=11111111-2222-4333-8444-555555555555
call vdi_info "$D" "$C" vdi_create --vdi "$V2" 1000000 && [ "$(member uuid)" = "$V2" ] && pass "vdi_create honours vdi_uuid"
"$VHDTOOL" query "$FILE_SR_DIR/$V2.vhd" | grep -qx 'virtual_size=.* (2097152 bytes)' || fail "size not rounded to 2 MiB"
fault 43 "$D" "$C" vdi_create --vdi "$V2" 1M && pass "vdi_create of an existing uuid is 43"
call vdi_info "$D" "$C" vdi_create --sm-config type=raw 10M && R=$(member uuid)
[ -f "$FILE_SR_DIR/$R.raw" ] && [ "$(stat -c %s "$FILE_SR_DIR/$R.raw")" = 10485760 ] && pass "raw VDI"

# attach / activate / detach / deactivate
call attach "$D" "$C" vdi_attach --vdi "$V1" true && pass "vdi_attach"
[ "$(member params)" = "$SM_MOUNT_BASE/$SR_UUID/$V1.vhd" ] || fail "attach params: $(member params)"
[ -e "$(member params)" ] || fail "params path does not exist"
grep -q "nbd:unix:$CSM_NBD_DIR/$SR_UUID/$V1:exportname=$V1" <<<"$OUT" || fail "params_nbd"
call unit "$D" "$C" vdi_activate --vdi "$V1" true && pass "vdi_activate"
call unit "$D" "$C" vdi_deactivate --vdi "$V1" && call unit "$D" "$C" vdi_detach --vdi "$V1" && pass "deactivate, detach"
call unit "$D" "$C" vdi_detach --vdi "$V1" && pass "vdi_detach is idempotent"

# Write a pattern, snapshot, and check the data moved to the hidden base.
head -c 1048576 /dev/urandom >"$T/pattern"
"$VHDTOOL" write "$FILE_SR_DIR/$V1.vhd" 4096 "$T/pattern"
call vdi_info "$D" "$C" vdi_snapshot --vdi "$V1" && S1=$(member uuid) && pass "vdi_snapshot returns $S1"
[ "$S1" != "$V1" ] || fail "snapshot returned the original"
Q=$("$VHDTOOL" query "$FILE_SR_DIR/$V1.vhd")
grep -qx 'type=differencing' <<<"$Q" || fail "original is not a child after snapshot"
BASE=$(sed -n 's/^parent_name=\(.*\)\.vhd$/\1/p' <<<"$Q")
"$VHDTOOL" query "$FILE_SR_DIR/$BASE.vhd" | grep -qx 'hidden=1' || fail "base copy not hidden"
"$VHDTOOL" read "$FILE_SR_DIR/$BASE.vhd" 4096 1048576 | cmp -s - "$T/pattern" || fail "base lost the data"
"$VHDTOOL" query "$FILE_SR_DIR/$S1.vhd" | grep -qx "parent_name=$BASE.vhd" || fail "snapshot's parent"
call vdi_info "$D" "$C" vdi_clone --vdi "$V1" && C1=$(member uuid) && pass "vdi_clone returns $C1"
# V1 was an empty child of BASE: the clone hangs off BASE too, no empty link.
"$VHDTOOL" query "$FILE_SR_DIR/$C1.vhd" | grep -qx "parent_name=$BASE.vhd" && pass "snapshot of an unchanged leaf adds no link" || fail "clone parent"
"$VHDTOOL" query "$FILE_SR_DIR/$V1.vhd" | grep -qx "parent_name=$BASE.vhd" || fail "V1 parent after clone"
call vdi_info "$D" "$C" vdi_snapshot --vdi "$V1" --driver-param type=single && pass "single snapshot"

# The scan is the authoritative view: every VDI with parent and flags.
call string "$D" "$C" sr_scan && pass "sr_scan"
SCAN=$(string_result)
for u in "$V1" "$V2" "$R" "$S1" "$C1" "$BASE"; do
	grep -q "<uuid>$u</uuid>" <<<"$SCAN" || fail "scan lacks $u"
done
grep -q "<label>data &amp; &lt;disk&gt;</label>" <<<"$SCAN" || fail "scan label escaping"
awk -v b="$BASE" '/<vdi>/{u="";h="";r=""} /<uuid>/{gsub(/.*<uuid>|<\/uuid>.*/,"");u=$0} /<hidden>/{h=$0} /<read_only>/{r=$0} /<\/vdi>/{if(u==b && (h !~ /true/ || r !~ /true/)) exit 1}' <<<"$SCAN" || fail "base copy is not hidden+read_only in the scan"

# resize: grow only
call vdi_info "$D" "$C" vdi_resize --vdi "$V2" 104857600 && pass "vdi_resize grows"
"$VHDTOOL" query "$FILE_SR_DIR/$V2.vhd" | grep -qx 'virtual_size=.* (104857600 bytes)' || fail "resize size"
fault 79 "$D" "$C" vdi_resize --vdi "$V2" 2097152 && pass "shrinking is 79"

# lock / unlock (persistent, seed API)
call unit "$D" "$C" vdi_lock --vdi "$V2" false alice && pass "vdi_lock"
call unit "$D" "$C" vdi_lock --vdi "$V2" false alice && pass "vdi_lock refresh by the holder"
fault 37 "$D" "$C" vdi_lock --vdi "$V2" false bob && pass "second holder refused (37)"
call string "$D" "$C" sr_scan && grep -q '&lt;locked&gt;true&lt;/locked&gt;' <<<"$OUT" || fail "scan shows no lock"
fault 24 "$D" "$C" vdi_delete --vdi "$V2" && pass "locked VDI cannot be deleted (24)"
fault 37 "$D" "$C" vdi_unlock --vdi "$V2" bob && pass "unlock by another user refused"
call unit "$D" "$C" vdi_lock --vdi "$V2" true bob && pass "force breaks the lock"
call unit "$D" "$C" vdi_unlock --vdi "$V2" bob && call unit "$D" "$C" vdi_unlock --vdi "$V2" bob && pass "unlock, idempotent"

# generate_config → attach_from_config, as static-vdis does it.
call string "$D" "$C" vdi_generate_config --vdi "$V1" && pass "vdi_generate_config"
CONFIG=$(string_result)
grep -q '<methodName>vdi_attach_from_config</methodName>' <<<"$CONFIG" || fail "config is not a methodCall"
run_raw "$D" "$CONFIG"
printf '%s' "$OUT" | "$XAPI_CHECK" attach || fail "attach_from_config response"
grep -q "$V1.vhd" <<<"$OUT" && pass "vdi_attach_from_config with the stored config"

# introduce, update
call unit "$D" "$C" vdi_update --vdi "$V1" && pass "vdi_update"
"$VHDTOOL" create "$FILE_SR_DIR/22222222-2222-4333-8444-555555555555.vhd" 4M >/dev/null
call vdi_info "$D" "$C" vdi_introduce --new-uuid 22222222-2222-4333-8444-555555555555 --location 22222222-2222-4333-8444-555555555555 && pass "vdi_introduce"

# delete: idempotent; a parent is refused; sr_delete refuses while VDIs remain.
fault 80 "$D" "$C" vdi_delete --vdi "$BASE" && pass "deleting a base copy with children is refused"
fault 39 "$D" "$C" sr_delete && pass "sr_delete with VDIs is 39"
for u in "$V1" "$V2" "$R" "$S1" "$C1" 22222222-2222-4333-8444-555555555555; do
	call unit "$D" "$C" vdi_delete --vdi "$u" || fail "delete $u"
done
call unit "$D" "$C" vdi_delete --vdi "$V1" && pass "vdi_delete is idempotent"
call string "$D" "$C" sr_scan
! grep -q '&lt;vdi&gt;' <<<"$OUT" && pass "scan hides garbage base copies" || fail "scan still lists VDIs"
call unit "$D" "$C" sr_detach && call unit "$D" "$C" sr_detach && pass "sr_detach, idempotent"
[ ! -e "$SM_MOUNT_BASE/$SR_UUID" ] || fail "detach left the link"
call unit "$D" "$C" sr_delete && pass "sr_delete"
[ ! -e "$FILE_SR_DIR" ] || fail "sr_delete left $FILE_SR_DIR: $(ls -A "$FILE_SR_DIR")"
call unit "$D" "$C" sr_delete && pass "sr_delete is idempotent"
finish
