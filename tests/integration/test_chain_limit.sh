#!/usr/bin/env bash
# Chains stay bounded: a snapshot that would make a chain deeper than 30
# links is refused with 109, and nothing is changed by the refusal.
source "$(dirname "$0")/lib.sh"
D="$BUILD/FileSR"
C="$REPO/examples/dconf/file.conf"
call unit "$D" "$C" sr_create 0
call vdi_info "$D" "$C" vdi_create 8M && V=$(member uuid)
printf 'x%.0s' $(seq 512) >"$T/sector"
n=0
while :; do
	# A write makes the leaf non-empty, so every snapshot adds a link.
	"$VHDTOOL" write "$FILE_SR_DIR/$V.vhd" $((n * 512)) "$T/sector"
	req=$("$SMCALL" --print-request "$D" "$C" vdi_snapshot --vdi "$V")
	run_raw "$D" "$req"
	if grep -q '<fault>' <<<"$OUT"; then
		break
	fi
	n=$((n + 1))
	[ "$n" -le 40 ] || { fail "no limit after 40 snapshots"; break; }
done
printf '%s' "$OUT" | "$XAPI_CHECK" fault 109 && pass "refused with 109 after $n snapshots"
[ "$n" -eq 29 ] || fail "expected 29 snapshots before the limit (30 links), got $n"
BEFORE=$(tree_sum "$FILE_SR_DIR")
run_raw "$D" "$req"
[ "$BEFORE" = "$(tree_sum "$FILE_SR_DIR")" ] && pass "refusal changed nothing" || fail "refusal changed the SR"
call attach "$D" "$C" vdi_attach --vdi "$V" true && pass "the 30-link chain attaches"
finish
