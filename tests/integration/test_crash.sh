#!/usr/bin/env bash
# Kill the driver (SIGKILL) at every step of every multi-step change (a
# sample of them with CSM_FILE_SWEEP_EVERY > 1: lib.sh's sweep_sample), then
# make the next call and check that it repaired the SR: nothing half-made
# is left, every VHD opens, and no VDI lost a byte.
#
# Steps are discovered, not listed: a first run with CSM_FAULT_LOG records
# every fault point the operation passes (test builds only, lib/fault.c).
source "$(dirname "$0")/lib.sh"
D="$BUILD/FileSR"
C="$REPO/examples/dconf/file.conf"

# A golden SR: V (data in three blocks) with a snapshot, then more data.
make_golden() {
	rm -rf "$FILE_SR_DIR" "$SM_LOCK_DIR"
	call unit "$D" "$C" sr_create 0 >/dev/null
	call vdi_info "$D" "$C" vdi_create --vdi "$V" 64M >/dev/null
	head -c 3145728 /dev/urandom >"$T/data1"
	"$VHDTOOL" write "$FILE_SR_DIR/$V.vhd" 1048576 "$T/data1"
	call vdi_info "$D" "$C" vdi_snapshot --vdi "$V" >/dev/null
	head -c 65536 /dev/urandom >"$T/data2"
	"$VHDTOOL" write "$FILE_SR_DIR/$V.vhd" 8388608 "$T/data2"
	rm -rf "$T/golden" && cp -a "$FILE_SR_DIR" "$T/golden"
}

restore_golden() {
	rm -rf "$FILE_SR_DIR" "$SM_LOCK_DIR" && cp -a "$T/golden" "$FILE_SR_DIR"
}

# Image files and their bytes (metadata sidecars aside).
images_sum() { (cd "$FILE_SR_DIR" && ls | grep -E '\.(vhd|raw)$' | sort | xargs -r sha1sum); }

all_vhds_open() {
	local f
	for f in "$FILE_SR_DIR"/*.vhd; do
		[ -e "$f" ] || continue
		"$VHDTOOL" query "$f" >/dev/null 2>&1 || { fail "$1: $(basename "$f") does not open"; return 1; }
	done
}

V=aaaaaaaa-0000-4000-8000-000000000001
make_golden

# op_name | smcall args | expectation after recovery (same: images unchanged; grown:<bytes>)
OPS=(
	"vdi_create|vdi_create --vdi bbbbbbbb-0000-4000-8000-000000000002 1G|same"
	"vdi_snapshot|vdi_snapshot --vdi $V|same"
	"vdi_clone|vdi_clone --vdi $V|same"
	"vdi_resize|vdi_resize --vdi $V 128M|resized:134217728"
	"vdi_resize_big|vdi_resize --vdi $V 100G|resized:107374182400"
)

total=0
for entry in "${OPS[@]}"; do
	IFS='|' read -r name args expect <<<"$entry"
	restore_golden
	: >"$T/points"
	# shellcheck disable=SC2086
	req=$("$SMCALL" --print-request "$D" "$C" $args)
	CSM_FAULT_LOG="$T/points" run_raw "$D" "$req"
	grep -q '<fault>' <<<"$OUT" && { fail "$name fails without any fault injected: $OUT"; continue; }
	mapfile -t points <"$T/points"
	if [ ${#points[@]} -eq 0 ]; then
		fail "$name passed no fault points: is $BUILD a TEST_BUILD=1 build?"
		continue
	fi
	all=${#points[@]}
	mapfile -t points < <(sweep_sample --file "${points[@]}")
	fails0=$FAILS
	for p in "${points[@]}"; do
		restore_golden
		before=$(images_sum)
		CSM_FAULT_POINT="$p" run_raw "$D" "$req"
		[ "$RC" -eq 137 ] || { fail "$name: not killed at $p (rc $RC)"; continue; }
		# The next call repairs: any command that takes the SR lock.
		call string "$D" "$C" sr_scan || { fail "$name@$p: scan after the crash failed"; continue; }
		ls -A "$FILE_SR_DIR/.csm-journal" 2>/dev/null | grep -q . && fail "$name@$p: journal left"
		ls -A "$FILE_SR_DIR" | grep -qE '\.tmp|\.new$|\.undo$' && fail "$name@$p: leftovers: $(ls -A "$FILE_SR_DIR")"
		all_vhds_open "$name@$p"
		case $expect in
		same)
			[ "$before" = "$(images_sum)" ] || fail "$name@$p: images changed"$'\n'"$before"$'\n---\n'"$(images_sum)"
			;;
		resized:*)
			# Rolled back (byte for byte as before) or complete (new size, same data).
			if [ "$before" != "$(images_sum)" ]; then
				"$VHDTOOL" query "$FILE_SR_DIR/$V.vhd" | grep -qx "virtual_size=.* (${expect#resized:} bytes)" ||
					fail "$name@$p: neither rolled back nor grown to ${expect#resized:}"
			fi
			"$VHDTOOL" read "$FILE_SR_DIR/$V.vhd" 8388608 65536 | cmp -s - "$T/data2" ||
				fail "$name@$p: data changed by the resize"
			;;
		esac
		# And the operation works afterwards.
		run_raw "$D" "$req"
		grep -q '<fault>' <<<"$OUT" && fail "$name@$p: repeating the operation failed: $OUT"
		total=$((total + 1))
	done
	[ "$FAILS" -eq "$fails0" ] && pass "$name: killed at ${#points[@]} of its $all steps (${points[*]}; CSM_FILE_SWEEP_EVERY=$(sweep_every --file)), repaired each time"
done
[ "$total" -ge $((10 / $(sweep_every --file))) ] || fail "only $total crash points exercised"

# A host crash during a snapshot that kept a synced write into the
# original's bytes (the base's hidden flag: the original and the base are
# one file until the leaf's name gets its child) but lost the names (the
# link, the rename): made by hand here, a kill after the journal record
# and the flag set on the original.  Recovery must leave it visible, and
# the GC (to which a hidden childless leaf is garbage) must not touch it.
restore_golden
before=$(images_sum)
fails0=$FAILS
req=$("$SMCALL" --print-request "$D" "$C" vdi_snapshot --vdi "$V")
CSM_FAULT_POINT=snapshot:journal run_raw "$D" "$req"
if [ "$RC" -ne 137 ]; then
	fail "host crash in a snapshot: not killed at snapshot:journal (rc $RC)"
else
	"$VHDTOOL" set-hidden "$FILE_SR_DIR/$V.vhd" 1
	call string "$D" "$C" sr_scan || fail "host crash in a snapshot: the scan failed"
	"$VHDTOOL" query "$FILE_SR_DIR/$V.vhd" | grep -qx 'hidden=0' ||
		fail "host crash in a snapshot: $V.vhd left hidden after recovery"
	grep -q "$V" <<<"$OUT" || fail "host crash in a snapshot: $V not in the scan"
	"$BUILD/csm-gc" --sr "$SR_UUID" --dir "$FILE_SR_DIR" --quiet >/dev/null 2>&1 ||
		fail "host crash in a snapshot: the GC failed"
	[ -e "$FILE_SR_DIR/$V.vhd" ] || fail "host crash in a snapshot: the GC deleted $V.vhd"
	"$VHDTOOL" read "$FILE_SR_DIR/$V.vhd" 8388608 65536 | cmp -s - "$T/data2" ||
		fail "host crash in a snapshot: $V's data changed"
	[ "$FAILS" -eq "$fails0" ] && pass "host crash in a snapshot (hidden flag kept, names lost): $V visible and kept by the GC"
fi
finish
