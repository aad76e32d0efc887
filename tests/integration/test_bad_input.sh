#!/usr/bin/env bash
# Bad input gets a clear fault on stdout with the right code, exit status 0,
# and nothing on disk changes.
source "$(dirname "$0")/lib.sh"
D="$BUILD/FileSR"
C="$REPO/examples/dconf/file.conf"

# --- argv and XML ---------------------------------------------------------
raw_fault 143 "$D" && pass "no argument is 143"
raw_fault 143 "$D" a b && pass "two arguments are 143"
raw_fault 143 "$D" --help && pass "--help is 143"
raw_fault 143 "$D" '' && pass "empty request is 143"
raw_fault 143 "$D" '<methodCall><methodName>sr_scan</methodName>' && pass "truncated XML is 143"
raw_fault 143 "$D" '<methodResponse/>' && pass "wrong root is 143"
raw_fault 143 "$D" '<!DOCTYPE x [<!ENTITY a "aaaa">]><methodCall><methodName>&a;</methodName><params/></methodCall>' && pass "DTD/entities refused"
raw_fault 143 "$D" '<methodCall><methodName>sr_scan</methodName><params><param><value><struct><member><name>command</name><value>sr_scan</value></member></struct></value></param></params></methodCall>' && pass "missing device_config is 143"
raw_fault 143 "$D" '<methodCall><methodName>sr_scan</methodName><params><param><value><struct><member><name>device_config</name><value><struct/></value></member><member><name>sr_uuid</name><value><int>5</int></value></member></struct></value></param></params></methodCall>' && pass "non-string sr_uuid is 143"
grep -q 'opterr=' <<<"$OUT" || fail "no detail in the fault"

# --- commands -----------------------------------------------------------
REQ=$("$SMCALL" --print-request "$D" "$C" sr_scan | sed 's/sr_scan/sr_frobnicate/g')
raw_fault 143 "$D" "$REQ" && grep -q "unknown command" <<<"$OUT" && pass "unknown command is 143 naming it"
REQ=$("$SMCALL" --print-request "$D" "$C" sr_scan | sed 's|<methodName>sr_scan|<methodName>sr_update|')
raw_fault 143 "$D" "$REQ" && pass "methodName and command disagree"
fault 38 "$D" "$C" vdi_compose --vdi 11111111-2222-4333-8444-555555555555 OpaqueRef:x && pass "missing op is 38"
fault 38 "$D" "$C" vdi_resize_online --vdi 11111111-2222-4333-8444-555555555555 10M && pass "vdi_resize_online is 38"

# --- dconf ------------------------------------------------------------------
fault 94 "$D" none sr_scan && pass "missing location is 94"
fault 94 "$D" none sr_create 0 --dconf location= && pass "empty location is 94"
fault 1 "$D" none sr_create 0 --dconf location=relative/dir && pass "relative location refused"
fault 1 "$D" none sr_create 0 --dconf "location=$T/a/../b" && pass "un-normalised location refused"
[ ! -e "$T/b" ] || fail "created a directory from a bad location"

call unit "$D" "$C" sr_create 0
call unit "$D" "$C" sr_attach
call vdi_info "$D" "$C" vdi_create 64M && V=$(member uuid)
BEFORE=$(tree_sum "$FILE_SR_DIR")

# --- uuids are never paths -----------------------------------------------
for bad in '../../etc/passwd' '3F1C0D9E-5D2A-4B7E-9C61-0E8A2B4F7A10' 'not-a-uuid' \
	   "$V/../x" "$V.vhd" '{3f1c0d9e-5d2a-4b7e-9c61-0e8a2b4f7a10}' ''; do
	fault 143 "$D" "$C" vdi_delete --vdi "$bad" || fail "vdi_uuid '$bad' accepted"
	fault 143 "$D" "$C" sr_scan --sr "$bad" || fail "sr_uuid '$bad' accepted"
done
pass "bad UUIDs refused as 143"
fault 143 "$D" "$C" vdi_create --vdi '../evil' 1M && pass "bad vdi_uuid on create"

# --- sizes ------------------------------------------------------------------
for bad in -1 abc 1e9 ' 10' '0x10' 99999999999999999999999 '10 '; do
	fault 79 "$D" "$C" --verbatim vdi_create -- "$bad" x '' '' false 19700101T00:00:00Z '' false || fail "size '$bad'"
done
pass "bad sizes are 79"
fault 79 "$D" "$C" vdi_create 2191569354753 && pass "over 2040 GiB is 79"
fault 79 "$D" "$C" --verbatim vdi_resize --vdi "$V" abc && fault 79 "$D" "$C" vdi_resize --vdi "$V" 1M && pass "bad resize sizes"
REQ=$("$SMCALL" --print-request "$D" "$C" vdi_create 1M | sed 's|<value>false</value><value>19700101T00:00:00Z</value><value/><value>false</value>||')
raw_fault 143 "$D" "$REQ" && pass "vdi_create needs its 8 args"
REQ=$("$SMCALL" --print-request "$D" "$C" vdi_create 1M | sed 's|<member><name>vdi_type</name><value>user</value></member>||')
raw_fault 143 "$D" "$REQ" && pass "vdi_create without vdi_type"
fault 66 "$D" "$C" vdi_create --sm-config type=qcow2 1M && pass "unknown VDI type is 66"
fault 447 "$D" "$C" vdi_create 1M $'bad\x7flabel' '' '' false 19700101T00:00:00Z '' false && fault 447 "$D" "$C" vdi_create 1M $'C1\xc2\x90' '' '' false 19700101T00:00:00Z '' false && pass "illegal XML chars in label are 447"
fault 143 "$D" "$C" vdi_attach --vdi "$V" maybe && pass "vdi_attach writable must be a bool"
fault 143 "$D" "$C" vdi_attach --vdi "$V" && pass "vdi_attach without its argument"

# --- missing things ---------------------------------------------------------
M=99999999-9999-4999-8999-999999999999
fault 46 "$D" "$C" vdi_attach --vdi "$M" true && pass "attach of a missing VDI is 46"
fault 144 "$D" "$C" vdi_snapshot --vdi "$M" && pass "snapshot of a missing VDI is 144"
fault 144 "$D" "$C" vdi_resize --vdi "$M" 10M && pass "resize of a missing VDI is 144"
fault 47 "$D" none sr_scan --dconf "location=$T/nowhere" && pass "scan of a missing directory is 47"
fault 47 "$D" none sr_attach --dconf "location=$T/nowhere" && pass "attach of a missing directory is 47"

# A corrupt VHD: attach says why; scan still lists it with an error.
head -c 2000 /dev/urandom >"$FILE_SR_DIR/$M.vhd"
fault 46 "$D" "$C" vdi_attach --vdi "$M" true && grep -q 'opterr=' <<<"$OUT" && pass "corrupt VHD: 46 with a reason"
call string "$D" "$C" sr_scan && grep -q "&lt;error&gt;" <<<"$OUT" && grep -q "<uuid>$V</uuid>\|&lt;uuid&gt;$V&lt;/uuid&gt;" <<<"$OUT" && pass "one corrupt VHD does not fail the scan"
rm -f "$FILE_SR_DIR/$M.vhd"

AFTER=$(tree_sum "$FILE_SR_DIR")
[ "$BEFORE" = "$AFTER" ] && pass "nothing on disk changed" || fail "bad input changed the SR"$'\n'"$BEFORE"$'\n---\n'"$AFTER"
finish
